/** The bundle esbuild makes (what the .vsix ships) activates in a host that provides `vscode`. */

import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import Module, { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import * as vscodeMock from "./vscodeMock";
import { mock } from "./vscodeMock";

const dir = mkdtempSync(join(tmpdir(), "oh-bundle-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Loader = (request: string, parent: unknown, isMain: boolean) => unknown;

function loadWithHost(bundle: string): { activate(context: unknown): void } {
  const modules = Module as unknown as { _load: Loader };
  const original = modules._load;
  // The extension host answers require("vscode"); here the mock does.
  modules._load = function (request, parent, isMain) {
    return request === "vscode" ? vscodeMock : original.call(this, request, parent, isMain);
  };
  try {
    return createRequire(__filename)(bundle) as { activate(context: unknown): void };
  } finally {
    modules._load = original;
  }
}

describe("the bundle", () => {
  it("activates, registers the commands, and keeps the key in secret storage", async () => {
    const bundle = join(dir, "extension.js");
    execFileSync(process.execPath, ["esbuild.mjs", bundle], { cwd: resolve(__dirname, "..") });
    mock.reset();
    const secrets = new Map<string, string>();
    const context = {
      subscriptions: [] as unknown[],
      secrets: {
        get: async (key: string) => secrets.get(key),
        store: async (key: string, value: string) => void secrets.set(key, value),
        delete: async (key: string) => void secrets.delete(key),
      },
    };
    loadWithHost(bundle).activate(context);
    expect([...mock.commands.keys()].sort()).toEqual([
      "openhands.askOpenHands",
      "openhands.invokeCodeAgent",
      "openhands.setGatewayKey",
    ]);
    mock.inputAnswers = ["gk-bundle"];
    await mock.commands.get("openhands.setGatewayKey")?.();
    expect(secrets.get("openhands.gatewayKey")).toBe("gk-bundle");
  });
});
