/** The agent's file tools, run on the client inside the workspace sandbox. */

import { constants, promises as fs } from "node:fs";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import type { ToolCall } from "../agent/protocol";
import { Refused, type Resolved, type Sandbox } from "./sandbox";
import { walk } from "./walk";

export interface Limits {
  readBytes: number;
  writeBytes: number;
  listEntries: number;
  searchMatches: number;
  searchFiles: number;
  lineChars: number;
}

export const DEFAULT_LIMITS: Limits = {
  readBytes: 512 * 1024,
  writeBytes: 1024 * 1024,
  listEntries: 500,
  searchMatches: 100,
  searchFiles: 2000,
  lineChars: 200,
};

export interface ProposedWrite {
  relPath: string;
  /** The file's current text, or undefined for a new file. */
  oldText: string | undefined;
  newText: string;
}

/** How the user sees a write before it happens (a diff in the editor). */
export interface WriteReviewer {
  review(change: ProposedWrite, signal: AbortSignal): Promise<boolean>;
}

type Args = Record<string, unknown>;

export class ClientTools {
  constructor(
    private readonly sandbox: Sandbox | undefined,
    private readonly reviewer: WriteReviewer,
    private readonly limits: Limits = DEFAULT_LIMITS,
  ) {}

  /** The tool's output for the model; a refusal or failure is output too ("error: ..."). */
  async run(call: ToolCall, signal: AbortSignal): Promise<string> {
    try {
      if ("invalid" in call.args && typeof call.args.invalid === "string") {
        throw new Refused(`invalid arguments: ${call.args.invalid}`);
      }
      if (!this.sandbox) throw new Refused("no workspace folder is open in the editor");
      const args = call.args as Args;
      switch (call.name) {
        case "read_file":
          return await this.read(this.sandbox, args);
        case "write_file":
          return await this.write(this.sandbox, args, signal);
        case "list_files":
          return await this.list(this.sandbox, args, signal);
        case "search_files":
          return await this.search(this.sandbox, args, signal);
        default:
          throw new Refused(`unknown tool ${call.name}`);
      }
    } catch (err) {
      if (err instanceof Refused) return `error: ${err.message}`;
      const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      return `error: ${call.name} failed (${reason})`;
    }
  }

  private async read(sandbox: Sandbox, args: Args): Promise<string> {
    const target = await sandbox.resolve(requireString(args, "path"));
    return this.readText(target);
  }

  /** A regular, text file under the size cap, opened without following a swapped-in link. */
  private async readText(target: Resolved): Promise<string> {
    // O_NONBLOCK: opening a fifo for reading would otherwise wait for a writer forever.
    const flags = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);
    const handle = await fs.open(target.abs, flags);
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) throw new Refused(`${target.rel || "."} is not a regular file`);
      if (stat.size > this.limits.readBytes) {
        throw new Refused(
          `${target.rel} is ${stat.size} bytes, over the ${this.limits.readBytes}-byte limit`,
        );
      }
      const bytes = await handle.readFile();
      if (bytes.includes(0)) throw new Refused(`${target.rel} is a binary file`);
      return bytes.toString("utf8");
    } finally {
      await handle.close();
    }
  }

  private async write(sandbox: Sandbox, args: Args, signal: AbortSignal): Promise<string> {
    const relPath = requireString(args, "path");
    const content = requireString(args, "content", true);
    if (Buffer.byteLength(content) > this.limits.writeBytes) {
      throw new Refused(`content is over the ${this.limits.writeBytes}-byte limit`);
    }
    const target = await sandbox.resolve(relPath, true);
    const oldText = target.exists ? await this.readText(target) : undefined;
    if (oldText === content) return "applied (the file already had this content)";
    const accepted = await this.reviewer.review(
      { relPath: target.rel, oldText, newText: content },
      signal,
    );
    if (!accepted || signal.aborted) return "rejected";
    // Time passed while the user looked: check the path again before touching the disk.
    const again = await sandbox.resolve(relPath, true);
    if (again.abs !== target.abs) throw new Refused(`${relPath} changed while under review`);
    await this.atomicWrite(sandbox, again, content);
    return "applied";
  }

  private async atomicWrite(sandbox: Sandbox, target: Resolved, content: string): Promise<void> {
    const dir = path.dirname(target.abs);
    await fs.mkdir(dir, { recursive: true });
    // The directories just made must still be ours (nothing raced a link in).
    await sandbox.resolve(path.relative(sandbox.root, dir).split(path.sep).join("/"));
    const mode = target.exists ? (await fs.stat(target.abs)).mode & 0o777 : 0o644;
    const temp = path.join(
      dir,
      `.${path.basename(target.abs)}.${randomBytes(6).toString("hex")}.tmp`,
    );
    try {
      await fs.writeFile(temp, content, { flag: "wx", mode });
      await fs.rename(temp, target.abs);
    } catch (err) {
      await fs.rm(temp, { force: true });
      throw err;
    }
  }

  private async list(sandbox: Sandbox, args: Args, signal: AbortSignal): Promise<string> {
    const start = await this.directory(sandbox, optionalString(args, "path"));
    const recursive = args.recursive === true;
    const lines: string[] = [];
    for await (const entry of walk(sandbox, start.rel, recursive, signal)) {
      if (lines.length >= this.limits.listEntries) {
        lines.push(`(stopped after ${this.limits.listEntries} entries: list a subdirectory)`);
        break;
      }
      lines.push(entry.rel + (entry.kind === "dir" ? "/" : entry.kind === "link" ? "@" : ""));
    }
    return lines.length > 0 ? lines.join("\n") : "(empty directory)";
  }

  private async directory(sandbox: Sandbox, relPath: string | undefined): Promise<Resolved> {
    const start = await sandbox.resolve(relPath ?? "");
    if (!(await fs.stat(start.abs)).isDirectory()) {
      throw new Refused(`${start.rel} is not a directory`);
    }
    return start;
  }

  /** Lines containing the query exactly (as the server's search_files), in text files only. */
  private async search(sandbox: Sandbox, args: Args, signal: AbortSignal): Promise<string> {
    const query = requireString(args, "query");
    if (query.length > 1000) throw new Refused("query must be at most 1000 characters");
    const start = await sandbox.resolve(optionalString(args, "path") ?? "");
    const files = (await fs.stat(start.abs)).isFile()
      ? [start]
      : await this.files(sandbox, start.rel, signal);
    const matches: string[] = [];
    for (const file of files) {
      if (signal.aborted) break;
      let text: string;
      try {
        text = await this.readText(file);
      } catch {
        continue; // binary, too large, vanished: not searchable, not worth an error
      }
      const lines = text.split(/\r?\n/);
      for (let i = 0; i < lines.length; i++) {
        if (!lines[i].includes(query)) continue;
        if (matches.length >= this.limits.searchMatches) {
          matches.push(`(stopped after ${this.limits.searchMatches} matches)`);
          return matches.join("\n");
        }
        matches.push(`${file.rel}:${i + 1}: ${lines[i].trim().slice(0, this.limits.lineChars)}`);
      }
    }
    return matches.length > 0 ? matches.join("\n") : `No line contains ${JSON.stringify(query)}.`;
  }

  private async files(
    sandbox: Sandbox,
    startRel: string,
    signal: AbortSignal,
  ): Promise<Resolved[]> {
    const out: Resolved[] = [];
    for await (const entry of walk(sandbox, startRel, true, signal)) {
      if (entry.kind !== "file") continue;
      if (out.length >= this.limits.searchFiles) break;
      out.push({ abs: entry.abs, rel: entry.rel, exists: true });
    }
    return out;
  }
}

function requireString(args: Args, key: string, allowEmpty = false): string {
  const value = args[key];
  if (typeof value !== "string" || (!allowEmpty && value === "")) {
    throw new Refused(`argument "${key}" must be a ${allowEmpty ? "" : "non-empty "}string`);
  }
  return value;
}

function optionalString(args: Args, key: string): string | undefined {
  const value = args[key];
  if (value === undefined || value === null || value === "") return undefined;
  if (typeof value !== "string") throw new Refused(`argument "${key}" must be a string`);
  return value;
}
