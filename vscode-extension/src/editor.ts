/**
 * What the commands need from the editor, as an interface: the logic modules depend on this,
 * never on `vscode`, so tests drive them with a plain object.
 */

import type { ProposedWrite } from "./tools/fileTools";

/** The active editor as it was when the command started. */
export interface ActiveDocument {
  fileName: string;
  languageId: string;
  text: string;
  selectionText: string;
  /** Offset in `text` of the cursor (or of the selection's start). */
  cursorOffset: number;
  /** Puts text at the cursor, replacing the selection if there is one. */
  insertAtCursor(text: string): Promise<boolean>;
  /** Shows `text` as a diff against the selection; replaces the selection if accepted. */
  reviewReplacement(text: string): Promise<boolean>;
}

export interface Output {
  append(text: string): void;
  appendLine(text: string): void;
  show(): void;
}

export interface Progress {
  report(message: string): void;
}

export interface SecretStore {
  get(): Promise<string | undefined>;
  store(value: string): Promise<void>;
  delete(): Promise<void>;
}

export interface EditorPort {
  activeDocument(): ActiveDocument | undefined;
  workspaceRoot(): string | undefined;
  /** Undefined when the user dismissed the box. */
  askText(
    prompt: string,
    options?: { placeHolder?: string; password?: boolean },
  ): Promise<string | undefined>;
  /** Shows a proposed file write as a diff; true when the user accepts it. */
  reviewWrite(change: ProposedWrite, signal: AbortSignal): Promise<boolean>;
  /** Opens the text in a new editor (when there is nowhere to insert it). */
  openUntitled(text: string, languageId?: string): Promise<void>;
  info(message: string): void;
  error(message: string): void;
  output: Output;
  /** Runs `task` under a cancellable progress notification; cancelling aborts `signal`. */
  withProgress<T>(
    title: string,
    task: (signal: AbortSignal, progress: Progress) => Promise<T>,
  ): Promise<T>;
}
