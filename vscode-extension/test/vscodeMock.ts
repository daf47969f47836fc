/**
 * A stand-in for the `vscode` module (which exists only inside the editor), with just the API
 * the extension uses. Tests steer it through `mock` and read what happened from it.
 */

type Listener = () => void;

export const mock = {
  commands: new Map<string, (...args: unknown[]) => unknown>(),
  executed: [] as Array<{ command: string; args: unknown[] }>,
  providers: new Map<string, { provideTextDocumentContent(uri: Uri): string }>(),
  inputAnswers: [] as Array<string | undefined>,
  inputOptions: [] as unknown[],
  messageAnswers: [] as Array<string | undefined>,
  messages: [] as Array<{ kind: string; text: string; items: string[] }>,
  config: {} as Record<string, unknown>,
  configUpdates: 0,
  cancelProgress: undefined as Listener | undefined,
  activeTextEditor: undefined as unknown,
  workspaceFolders: undefined as Array<{ uri: Uri }> | undefined,
  output: [] as string[],
  reset(): void {
    this.commands.clear();
    this.executed = [];
    this.providers.clear();
    this.inputAnswers = [];
    this.inputOptions = [];
    this.messageAnswers = [];
    this.messages = [];
    this.config = {};
    this.configUpdates = 0;
    this.cancelProgress = undefined;
    this.activeTextEditor = undefined;
    this.workspaceFolders = undefined;
    this.output = [];
  },
};

export class Uri {
  private constructor(
    readonly scheme: string,
    readonly path: string,
    readonly query: string,
  ) {}
  static from(parts: { scheme: string; path: string; query?: string }): Uri {
    return new Uri(parts.scheme, parts.path, parts.query ?? "");
  }
  static file(path: string): Uri {
    return new Uri("file", path, "");
  }
  get fsPath(): string {
    return this.path;
  }
  toString(): string {
    return `${this.scheme}:${this.path}${this.query ? `?${this.query}` : ""}`;
  }
}

export class Position {
  constructor(
    readonly line: number,
    readonly character: number,
  ) {}
}

export class Range {
  constructor(
    readonly start: Position,
    readonly end: Position,
  ) {}
}

export enum ProgressLocation {
  Notification = 15,
}

const disposable = { dispose: () => undefined };

export const commands = {
  registerCommand(id: string, fn: (...args: unknown[]) => unknown) {
    mock.commands.set(id, fn);
    return disposable;
  },
  async executeCommand(command: string, ...args: unknown[]) {
    mock.executed.push({ command, args });
    return undefined;
  },
};

export const window = {
  get activeTextEditor() {
    return mock.activeTextEditor;
  },
  createOutputChannel() {
    return {
      append: (text: string) => mock.output.push(text),
      appendLine: (text: string) => mock.output.push(`${text}\n`),
      show: () => undefined,
      dispose: () => undefined,
    };
  },
  async showInputBox(options: unknown) {
    mock.inputOptions.push(options);
    return mock.inputAnswers.shift();
  },
  async showInformationMessage(text: string, ...items: string[]) {
    mock.messages.push({ kind: "info", text, items });
    return mock.messageAnswers.shift();
  },
  async showErrorMessage(text: string, ...items: string[]) {
    mock.messages.push({ kind: "error", text, items });
    return undefined;
  },
  async showTextDocument() {
    return undefined;
  },
  withProgress<T>(
    _options: unknown,
    task: (
      progress: { report(value: unknown): void },
      token: { onCancellationRequested(fn: Listener): unknown },
    ) => Promise<T>,
  ): Promise<T> {
    return task(
      { report: () => undefined },
      {
        onCancellationRequested: (fn: Listener) => {
          mock.cancelProgress = fn;
          return disposable;
        },
      },
    );
  },
};

export const workspace = {
  get workspaceFolders() {
    return mock.workspaceFolders;
  },
  getConfiguration() {
    return {
      get: (key: string) => mock.config[key],
      update: async () => void (mock.configUpdates += 1),
    };
  },
  registerTextDocumentContentProvider(
    scheme: string,
    provider: { provideTextDocumentContent(uri: Uri): string },
  ) {
    mock.providers.set(scheme, provider);
    return disposable;
  },
  getWorkspaceFolder() {
    return mock.workspaceFolders?.[0];
  },
  asRelativePath(uri: Uri) {
    return uri.path.split("/").pop();
  },
  async openTextDocument(options: unknown) {
    return options;
  },
};
