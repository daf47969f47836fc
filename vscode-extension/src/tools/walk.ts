/** Walk of a workspace directory, leaving out what the sandbox would refuse. */

import { promises as fs } from "node:fs";
import * as path from "node:path";
import { secretReason } from "./filters";
import { isWithin, type Sandbox } from "./sandbox";

export interface Entry {
  rel: string;
  abs: string;
  kind: "file" | "dir" | "link";
}

// Listed, but not walked into: large and never what a task is about (as on the server).
const UNWALKED = new Set(["node_modules", "__pycache__", ".venv", "venv", ".mypy_cache", ".tox"]);

/**
 * Entries below `start` (a resolved directory, "" for the root), depth first, names sorted.
 * Links are listed only when they point inside the workspace, and never followed.
 */
export async function* walk(
  sandbox: Sandbox,
  start: string,
  recursive: boolean,
  signal: AbortSignal,
): AsyncGenerator<Entry> {
  const dirAbs = path.join(sandbox.root, ...start.split("/").filter(Boolean));
  let names: string[];
  try {
    names = (await fs.readdir(dirAbs)).sort();
  } catch {
    return;
  }
  for (const name of names) {
    if (signal.aborted) return;
    const rel = start ? `${start}/${name}` : name;
    const abs = path.join(dirAbs, name);
    const kind = await kindOf(sandbox, rel, abs);
    if (!kind || (await sandbox.gitignore.ignores(rel, kind === "dir"))) continue;
    yield { rel, abs, kind };
    if (kind === "dir" && recursive && !UNWALKED.has(name)) {
      yield* walk(sandbox, rel, recursive, signal);
    }
  }
}

async function kindOf(
  sandbox: Sandbox,
  rel: string,
  abs: string,
): Promise<Entry["kind"] | undefined> {
  if (secretReason(rel)) return undefined;
  try {
    const stat = await fs.lstat(abs);
    if (stat.isDirectory()) return "dir";
    if (stat.isFile()) return "file";
    if (!stat.isSymbolicLink()) return undefined; // fifos, sockets, devices
    const real = await fs.realpath(abs);
    const realRel = path.relative(sandbox.root, real).split(path.sep).join("/");
    return isWithin(sandbox.root, real) && !secretReason(realRel) ? "link" : undefined;
  } catch {
    return undefined;
  }
}
