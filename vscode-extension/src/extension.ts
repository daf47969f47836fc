/** Entry point: registers the commands; what they do lives in commands.ts. */

import * as vscode from "vscode";
import { askOpenHands, invokeCodeAgent, setGatewayKey, type CommandDeps } from "./commands";
import { SECTION, readSettings } from "./settings";
import { ProposedContent, SCHEME, secretStore, vscodeEditor } from "./vscodeEditor";

export function activate(context: vscode.ExtensionContext): void {
  const output = vscode.window.createOutputChannel("OpenHands");
  const content = new ProposedContent();
  const deps: CommandDeps = {
    editor: vscodeEditor(output, content),
    settings: () => readSettings((key) => vscode.workspace.getConfiguration(SECTION).get(key)),
    secret: secretStore(context.secrets),
  };
  context.subscriptions.push(
    output,
    vscode.workspace.registerTextDocumentContentProvider(SCHEME, content),
    vscode.commands.registerCommand("openhands.askOpenHands", () => askOpenHands(deps)),
    vscode.commands.registerCommand("openhands.invokeCodeAgent", () => invokeCodeAgent(deps)),
    vscode.commands.registerCommand("openhands.setGatewayKey", () => setGatewayKey(deps)),
  );
}

export function deactivate(): void {}
