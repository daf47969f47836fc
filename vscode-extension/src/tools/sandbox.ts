/**
 * Containment of the agent's file tools in the workspace, with the server sandbox's rules:
 * relative paths only, no "..", real paths of root and target compared component by component
 * (never a string prefix: /root_evil is not inside /root), symlinks that lead out refused, and
 * for a file not yet there, its nearest existing ancestor's real path checked instead.
 */

import { promises as fs } from "node:fs";
import * as path from "node:path";
import { GitIgnore, secretReason } from "./filters";

/** A tool request the sandbox refuses; the message goes back to the model. */
export class Refused extends Error {
  constructor(message: string) {
    super(message);
    this.name = "Refused";
  }
}

export interface Resolved {
  /** Real absolute path (symlinks inside the root resolved). */
  abs: string;
  /** The same, relative to the root, "/"-separated ("" for the root itself). */
  rel: string;
  exists: boolean;
}

const MAX_PATH = 4096;
const caseless = process.platform === "win32" || process.platform === "darwin";

/** Is `target` the root or below it, compared component by component? Both must be real. */
export function isWithin(root: string, target: string): boolean {
  const norm = (p: string): string[] => {
    const parts = path.resolve(p).split(path.sep).filter(Boolean);
    return caseless ? parts.map((part) => part.toLowerCase()) : parts;
  };
  const rootParts = norm(root);
  const targetParts = norm(target);
  if (targetParts.length < rootParts.length) return false;
  return rootParts.every((part, i) => part === targetParts[i]);
}

function code(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

export class Sandbox {
  readonly gitignore: GitIgnore;

  private constructor(readonly root: string) {
    this.gitignore = new GitIgnore(root);
  }

  static async open(root: string): Promise<Sandbox> {
    const real = await fs.realpath(root);
    if (!(await fs.stat(real)).isDirectory()) throw new Refused(`${root} is not a directory`);
    return new Sandbox(real);
  }

  /** The path's parts after the textual checks, before touching the disk. */
  private parts(relPath: unknown): string[] {
    if (typeof relPath !== "string") throw new Refused("path must be a string");
    if (relPath.length > MAX_PATH) throw new Refused("path is too long");
    if (relPath.includes("\0")) throw new Refused("path contains a NUL byte");
    const slashed = path.sep === "\\" ? relPath.replace(/\\/g, "/") : relPath;
    if (path.isAbsolute(relPath) || slashed.startsWith("/") || /^[a-zA-Z]:/.test(slashed)) {
      throw new Refused("absolute paths are not allowed; give a path relative to the workspace");
    }
    const parts = slashed.split("/").filter((part) => part !== "" && part !== ".");
    if (parts.includes("..")) throw new Refused("'..' is not allowed in paths");
    return parts;
  }

  /**
   * The real location of a workspace path, or Refused. `mayBeMissing` allows a path that does
   * not exist yet (a file to write): its existing ancestors are still checked.
   */
  async resolve(relPath: unknown, mayBeMissing = false): Promise<Resolved> {
    const parts = this.parts(relPath);
    this.checkNames(parts.join("/"));
    let current = this.root;
    let exists = true;
    let isDir = true;
    for (let i = 0; i < parts.length; i++) {
      const next = path.join(current, parts[i]);
      let stat;
      try {
        stat = await fs.lstat(next);
      } catch (err) {
        if (code(err) !== "ENOENT" || !mayBeMissing) {
          throw new Refused(
            code(err) === "ENOENT"
              ? `${parts.join("/")} does not exist`
              : `cannot access ${parts.join("/")}`,
          );
        }
        current = path.join(current, ...parts.slice(i));
        exists = false;
        isDir = false;
        break;
      }
      if (stat.isSymbolicLink()) {
        let real: string;
        try {
          real = await fs.realpath(next);
        } catch {
          // A dangling link would create its target wherever it points: outside, possibly.
          throw new Refused(`${parts.slice(0, i + 1).join("/")} is a broken symlink`);
        }
        if (!isWithin(this.root, real)) {
          throw new Refused(
            `${parts.slice(0, i + 1).join("/")} is a symlink leading outside the workspace`,
          );
        }
        current = real;
        stat = await fs.stat(real);
      } else {
        current = next;
      }
      isDir = stat.isDirectory();
      if (i < parts.length - 1 && !isDir) {
        throw new Refused(`${parts.slice(0, i + 1).join("/")} is not a directory`);
      }
    }
    if (!isWithin(this.root, current)) throw new Refused("path leads outside the workspace");
    const rel = path.relative(this.root, current).split(path.sep).join("/");
    // The real target may have another name than the one asked for (a link to .env).
    this.checkNames(rel);
    for (const name of new Set([parts.join("/"), rel])) {
      if (name && (await this.gitignore.ignores(name, isDir))) {
        throw new Refused(`${name} is ignored by .gitignore`);
      }
    }
    return { abs: current, rel, exists };
  }

  private checkNames(rel: string): void {
    const secret = secretReason(rel);
    if (secret) throw new Refused(secret);
  }
}
