/** The editor interface implemented with the VS Code API (the only module besides extension.ts that imports it). */

import * as vscode from "vscode";
import type { ActiveDocument, EditorPort, Output, SecretStore } from "./editor";
import type { ProposedWrite } from "./tools/fileTools";

export const SCHEME = "openhands-proposed";
const KEY_NAME = "openhands.gatewayKey";

/** Read-only virtual documents: the two sides of every diff the extension shows. */
export class ProposedContent implements vscode.TextDocumentContentProvider {
  private readonly texts = new Map<string, string>();
  private counter = 0;

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.texts.get(uri.toString()) ?? "";
  }

  /** A virtual document holding `text`, shown under `label`. */
  add(label: string, text: string): vscode.Uri {
    this.counter += 1;
    const uri = vscode.Uri.from({ scheme: SCHEME, path: `/${label}`, query: String(this.counter) });
    this.texts.set(uri.toString(), text);
    return uri;
  }

  forget(...uris: vscode.Uri[]): void {
    for (const uri of uris) this.texts.delete(uri.toString());
  }
}

export function secretStore(secrets: vscode.SecretStorage): SecretStore {
  return {
    get: async () => (await secrets.get(KEY_NAME)) ?? undefined,
    store: (value) => Promise.resolve(secrets.store(KEY_NAME, value)),
    delete: () => Promise.resolve(secrets.delete(KEY_NAME)),
  };
}

/** Shows left vs right and asks; the decision is the button pressed (dismissing rejects). */
async function diffAndAsk(
  content: ProposedContent,
  left: vscode.Uri,
  right: vscode.Uri,
  title: string,
  question: string,
  yes: string,
  signal?: AbortSignal,
): Promise<boolean> {
  try {
    await vscode.commands.executeCommand("vscode.diff", left, right, title, { preview: true });
    const answer = vscode.window.showInformationMessage(question, yes, "Reject");
    const aborted = new Promise<undefined>((resolve) => {
      if (signal?.aborted) resolve(undefined);
      signal?.addEventListener("abort", () => resolve(undefined), { once: true });
    });
    return (await Promise.race([answer, aborted])) === yes;
  } finally {
    content.forget(left, right);
  }
}

function activeDocument(content: ProposedContent): ActiveDocument | undefined {
  const editor = vscode.window.activeTextEditor;
  if (!editor) return undefined;
  const { document, selection } = editor;
  const version = document.version;
  const range = new vscode.Range(selection.start, selection.end);
  const name = vscode.workspace.asRelativePath(document.uri);
  const unchanged = (): boolean => !document.isClosed && document.version === version;
  return {
    fileName: name,
    languageId: document.languageId,
    text: document.getText(),
    selectionText: document.getText(range),
    cursorOffset: document.offsetAt(selection.start),
    // The document may have been edited while the agent worked: then the range means nothing.
    insertAtCursor: async (text) => unchanged() && editor.edit((edit) => edit.replace(range, text)),
    reviewReplacement: async (text) => {
      const left = content.add(`${name} (selection)`, document.getText(range));
      const right = content.add(`${name} (generated)`, text);
      const accepted = await diffAndAsk(
        content,
        left,
        right,
        `OpenHands: ${name}`,
        `Replace the selection in ${name} with the generated code?`,
        "Replace",
      );
      if (!accepted) return false;
      if (unchanged()) return editor.edit((edit) => edit.replace(range, text));
      await vscode.workspace
        .openTextDocument({ content: text, language: document.languageId })
        .then((doc) => vscode.window.showTextDocument(doc));
      return false;
    },
  };
}

export function vscodeEditor(output: vscode.OutputChannel, content: ProposedContent): EditorPort {
  const out: Output = {
    append: (text) => output.append(text),
    appendLine: (text) => output.appendLine(text),
    show: () => output.show(true),
  };
  return {
    output: out,
    activeDocument: () => activeDocument(content),
    workspaceRoot: () => {
      const active = vscode.window.activeTextEditor?.document.uri;
      const folder =
        (active && vscode.workspace.getWorkspaceFolder(active)) ??
        vscode.workspace.workspaceFolders?.[0];
      return folder?.uri.scheme === "file" ? folder.uri.fsPath : undefined;
    },
    askText: (prompt, options) =>
      Promise.resolve(
        vscode.window.showInputBox({
          prompt,
          placeHolder: options?.placeHolder,
          password: options?.password,
          ignoreFocusOut: true,
        }),
      ),
    reviewWrite: (change: ProposedWrite, signal) => {
      const left = content.add(`${change.relPath} (current)`, change.oldText ?? "");
      const right = content.add(`${change.relPath} (proposed)`, change.newText);
      const verb = change.oldText === undefined ? "Create" : "Change";
      return diffAndAsk(
        content,
        left,
        right,
        `OpenHands: ${change.relPath}`,
        `${verb} ${change.relPath} as the agent proposes?`,
        "Apply",
        signal,
      );
    },
    openUntitled: async (text, languageId) => {
      const doc = await vscode.workspace.openTextDocument({ content: text, language: languageId });
      await vscode.window.showTextDocument(doc);
    },
    info: (message) => void vscode.window.showInformationMessage(message),
    error: (message) => void vscode.window.showErrorMessage(message),
    withProgress: (title, task) =>
      Promise.resolve(
        vscode.window.withProgress(
          { location: vscode.ProgressLocation.Notification, title, cancellable: true },
          (progress, token) => {
            const controller = new AbortController();
            token.onCancellationRequested(() => controller.abort());
            return task(controller.signal, { report: (message) => progress.report({ message }) });
          },
        ),
      ),
  };
}
