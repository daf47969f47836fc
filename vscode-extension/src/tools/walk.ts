/** Breadth-first walk of a workspace directory, skipping what the sandbox would refuse. */

import { promises as fs } from "node:fs";
import * as path from "node:path";
import { secretReason } from "./filters";
import { isWithin, type Sandbox } from "./sandbox";

export interface Entry {
  rel: string;
  /** Real path: a symlink's target. */
  abs: string;
  isDir: boolean;
}

/**
 * Entries below `start` (a resolved directory), shallow ones first, names sorted. Symlinks are
 * listed only when they point inside the workspace, and never descended into (no cycles).
 */
export async function* walk(
  sandbox: Sandbox,
  start: string,
  signal: AbortSignal,
): AsyncGenerator<Entry> {
  const queue = [start];
  while (queue.length > 0) {
    if (signal.aborted) return;
    const dirRel = queue.shift() as string;
    const dirAbs = path.join(sandbox.root, ...dirRel.split("/").filter(Boolean));
    let names: string[];
    try {
      names = (await fs.readdir(dirAbs)).sort();
    } catch {
      continue;
    }
    for (const name of names) {
      const rel = dirRel ? `${dirRel}/${name}` : name;
      if (secretReason(rel)) continue;
      const abs = path.join(dirAbs, name);
      let stat;
      try {
        stat = await fs.lstat(abs);
      } catch {
        continue;
      }
      let followed = false;
      let target = abs;
      if (stat.isSymbolicLink()) {
        try {
          const real = await fs.realpath(abs);
          target = real;
          const relReal = path.relative(sandbox.root, real).split(path.sep).join("/");
          if (!isWithin(sandbox.root, real) || secretReason(relReal)) continue;
          stat = await fs.stat(real);
          followed = true;
        } catch {
          continue;
        }
      }
      if (!stat.isDirectory() && !stat.isFile()) continue;
      const isDir = stat.isDirectory();
      if (await sandbox.gitignore.ignores(rel, isDir)) continue;
      yield { rel, abs: target, isDir };
      if (isDir && !followed) queue.push(rel);
    }
  }
}
