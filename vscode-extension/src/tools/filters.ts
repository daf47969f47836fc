/** Which workspace files the agent never sees: secrets by name, and what .gitignore ignores. */

import { promises as fs } from "node:fs";
import * as path from "node:path";
import ignore, { type Ignore } from "ignore";

// Whole directories that hold credentials or the repository's internals.
const SECRET_DIRS = new Set([".git", ".ssh", ".aws", ".gnupg", ".docker", ".kube"]);
const SECRET_FILES = new Set([
  ".env",
  ".netrc",
  ".npmrc",
  ".pypirc",
  ".git-credentials",
  "id_rsa",
  "id_dsa",
  "id_ecdsa",
  "id_ed25519",
]);
const SECRET_SUFFIXES = [".pem", ".key", ".p12", ".pfx", ".jks", ".keystore", ".ppk"];

/** Why a path (relative, "/"-separated) is a secret, or undefined when it is not. */
export function secretReason(relPath: string): string | undefined {
  for (const part of relPath.split("/")) {
    const name = part.toLowerCase();
    if (SECRET_DIRS.has(name)) return `${part}/ is never shared`;
    if (SECRET_FILES.has(name) || name.startsWith(".env.") || /^id_[a-z0-9]+(\.pub)?$/.test(name)) {
      return `${part} may hold secrets`;
    }
    if (SECRET_SUFFIXES.some((suffix) => name.endsWith(suffix))) {
      return `${part} may hold a key`;
    }
  }
  return undefined;
}

/**
 * The .gitignore files of a workspace, read lazily per directory. A path is ignored when the
 * .gitignore of any directory above it ignores it (relative to that directory).
 */
export class GitIgnore {
  private readonly cache = new Map<string, Promise<Ignore | undefined>>();

  constructor(private readonly root: string) {}

  async ignores(relPath: string, isDir = false): Promise<boolean> {
    const parts = relPath.split("/").filter(Boolean);
    for (let depth = 0; depth < parts.length; depth++) {
      const rules = await this.rulesOf(parts.slice(0, depth).join("/"));
      if (!rules) continue;
      const rest = parts.slice(depth).join("/");
      if (rules.ignores(isDir ? `${rest}/` : rest)) return true;
    }
    return false;
  }

  private rulesOf(dir: string): Promise<Ignore | undefined> {
    let rules = this.cache.get(dir);
    if (!rules) {
      rules = this.load(dir);
      this.cache.set(dir, rules);
    }
    return rules;
  }

  private async load(dir: string): Promise<Ignore | undefined> {
    const file = path.join(this.root, ...dir.split("/").filter(Boolean), ".gitignore");
    try {
      const stat = await fs.lstat(file);
      // A symlinked or huge .gitignore is not worth trusting or reading.
      if (!stat.isFile() || stat.size > 256 * 1024) return undefined;
      return ignore().add(await fs.readFile(file, "utf8"));
    } catch {
      return undefined;
    }
  }
}
