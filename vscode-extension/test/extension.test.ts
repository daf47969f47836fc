import { mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { activate } from "../src/extension";
import { vscodeEditor, ProposedContent, SCHEME } from "../src/vscodeEditor";
import * as vscode from "./vscodeMock";
import { mock } from "./vscodeMock";

const manifest = JSON.parse(readFileSync(join(__dirname, "..", "package.json"), "utf8")) as {
  activationEvents: string[];
  main: string;
  contributes: {
    commands: Array<{ command: string }>;
    configuration: { properties: Record<string, { default: unknown }> };
  };
};

function secretStorage() {
  const values = new Map<string, string>();
  return {
    values,
    get: async (key: string) => values.get(key),
    store: async (key: string, value: string) => void values.set(key, value),
    delete: async (key: string) => void values.delete(key),
  };
}

let context: { subscriptions: unknown[]; secrets: ReturnType<typeof secretStorage> };

beforeEach(() => {
  mock.reset();
  context = { subscriptions: [], secrets: secretStorage() };
  activate(context as never);
});

describe("activation", () => {
  it("registers exactly the commands the manifest contributes, and nothing activates it early", () => {
    expect([...mock.commands.keys()].sort()).toEqual(
      manifest.contributes.commands.map((c) => c.command).sort(),
    );
    expect(manifest.activationEvents).toEqual([]);
    expect(manifest.main).toBe("./out/extension.js");
    expect(mock.providers.has(SCHEME)).toBe(true);
  });

  it("declares the settings the code reads, with the documented defaults", () => {
    const props = manifest.contributes.configuration.properties;
    expect(props["openhands.api.baseUrl"].default).toBe("http://localhost:8000");
    expect(Object.keys(props).sort()).toEqual(
      [
        "openhands.agent.completedAction",
        "openhands.agent.confirmWrites",
        "openhands.api.baseUrl",
        "openhands.api.model",
        "openhands.api.modelQuality",
        "openhands.api.provider",
        "openhands.api.timeoutSeconds",
        "openhands.ask.contextBudget",
      ].sort(),
    );
    expect(Object.keys(props).some((key) => /key|token|secret/i.test(key))).toBe(false);
  });

  it("keeps the gateway key in secret storage, never in settings", async () => {
    mock.inputAnswers = ["gk-secret"];
    await mock.commands.get("openhands.setGatewayKey")?.();
    expect(context.secrets.values.get("openhands.gatewayKey")).toBe("gk-secret");
    expect(mock.configUpdates).toBe(0);
    expect(mock.inputOptions[0]).toMatchObject({ password: true });
  });
});

describe("the VS Code editor adapter", () => {
  let root: string;
  beforeEach(() => {
    root = realpathSync(mkdtempSync(join(tmpdir(), "oh-ext-")));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it("shows a write as vscode.diff between two virtual documents and applies on Apply", async () => {
    const content = new ProposedContent();
    const editor = vscodeEditor(vscode.window.createOutputChannel() as never, content);
    mock.messageAnswers = ["Apply"];
    const provider = { seen: [] as string[] };
    const originalExecute = vscode.commands.executeCommand;
    vscode.commands.executeCommand = async (command: string, ...args: unknown[]) => {
      // While the diff is open, the virtual documents hold the two texts.
      const [left, right] = args as vscode.Uri[];
      provider.seen.push(
        content.provideTextDocumentContent(left as never),
        content.provideTextDocumentContent(right as never),
      );
      return originalExecute(command, ...args);
    };
    try {
      const accepted = await editor.reviewWrite(
        { relPath: "src/a.py", oldText: "old\n", newText: "new\n" },
        new AbortController().signal,
      );
      expect(accepted).toBe(true);
    } finally {
      vscode.commands.executeCommand = originalExecute;
    }
    const diff = mock.executed[0];
    expect(diff.command).toBe("vscode.diff");
    const [left, right, title] = diff.args as [vscode.Uri, vscode.Uri, string];
    expect(left.scheme).toBe(SCHEME);
    expect(right.scheme).toBe(SCHEME);
    expect(title).toBe("OpenHands: src/a.py");
    expect(provider.seen).toEqual(["old\n", "new\n"]);
    expect(mock.messages[0]).toEqual({
      kind: "info",
      text: "Change src/a.py as the agent proposes?",
      items: ["Apply", "Reject"],
    });
    // The proposal is forgotten once decided.
    expect(content.provideTextDocumentContent(right as never)).toBe("");
  });

  it("takes a dismissed or rejected diff as a rejection", async () => {
    const editor = vscodeEditor(
      vscode.window.createOutputChannel() as never,
      new ProposedContent(),
    );
    mock.messageAnswers = [undefined, "Reject"];
    const signal = new AbortController().signal;
    expect(
      await editor.reviewWrite({ relPath: "n.py", oldText: undefined, newText: "x" }, signal),
    ).toBe(false);
    expect(mock.messages[0].text).toBe("Create n.py as the agent proposes?");
    expect(await editor.reviewWrite({ relPath: "n.py", oldText: "a", newText: "x" }, signal)).toBe(
      false,
    );
  });

  it("aborts the task's signal when the progress notification is cancelled", async () => {
    const editor = vscodeEditor(
      vscode.window.createOutputChannel() as never,
      new ProposedContent(),
    );
    const aborted = await editor.withProgress("t", (signal) => {
      mock.cancelProgress?.();
      return Promise.resolve(signal.aborted);
    });
    expect(aborted).toBe(true);
  });

  it("offers only a local folder as the project directory", () => {
    const editor = vscodeEditor(
      vscode.window.createOutputChannel() as never,
      new ProposedContent(),
    );
    expect(editor.workspaceRoot()).toBeUndefined();
    mock.workspaceFolders = [{ uri: vscode.Uri.file(root) }];
    expect(editor.workspaceRoot()).toBe(root);
    mock.workspaceFolders = [{ uri: vscode.Uri.from({ scheme: "vscode-remote", path: "/srv/x" }) }];
    expect(editor.workspaceRoot()).toBeUndefined();
  });
});

describe("the active document adapter", () => {
  function textEditor(text: string, selection: [number, number]) {
    const edits: Array<{ range: vscode.Range; text: string }> = [];
    const document = {
      version: 1,
      isClosed: false,
      languageId: "python",
      uri: vscode.Uri.file("/ws/src/app.py"),
      getText: (range?: vscode.Range) =>
        range ? text.slice(range.start.character, range.end.character) : text,
      offsetAt: (position: vscode.Position) => position.character,
    };
    const editor = {
      document,
      selection: {
        start: new vscode.Position(0, selection[0]),
        end: new vscode.Position(0, selection[1]),
      },
      edit: async (build: (edit: { replace(range: vscode.Range, text: string): void }) => void) => {
        build({ replace: (range, newText) => edits.push({ range, text: newText }) });
        return true;
      },
    };
    return { editor, document, edits };
  }

  it("captures the selection and replaces exactly it", async () => {
    const { editor, edits } = textEditor("abc = old()", [6, 11]);
    mock.activeTextEditor = editor;
    const doc = vscodeEditor(
      vscode.window.createOutputChannel() as never,
      new ProposedContent(),
    ).activeDocument();
    expect(doc).toMatchObject({
      fileName: "app.py",
      languageId: "python",
      selectionText: "old()",
      cursorOffset: 6,
    });
    expect(await doc?.insertAtCursor("new()")).toBe(true);
    expect(edits).toEqual([
      {
        range: new vscode.Range(new vscode.Position(0, 6), new vscode.Position(0, 11)),
        text: "new()",
      },
    ]);
  });

  it("does not edit a document that changed while the agent worked", async () => {
    const { editor, document, edits } = textEditor("abc = old()", [6, 11]);
    mock.activeTextEditor = editor;
    const doc = vscodeEditor(
      vscode.window.createOutputChannel() as never,
      new ProposedContent(),
    ).activeDocument();
    document.version = 2;
    expect(await doc?.insertAtCursor("new()")).toBe(false);
    expect(edits).toEqual([]);
  });
});
