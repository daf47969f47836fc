// The usage guide's development path: `npm install`, `npm run compile`, then F5 "Run Extension".
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(__dirname, "..");
const read = (path: string): unknown => JSON.parse(readFileSync(join(root, path), "utf8"));

const manifest = read("package.json") as { main: string; scripts: Record<string, string> };
const launch = read(".vscode/launch.json") as {
  configurations: Array<{ name: string; type: string; args: string[]; preLaunchTask?: string }>;
};
const tasks = read(".vscode/tasks.json") as {
  tasks: Array<{ type: string; script: string; label: string }>;
};

describe("the development path of the usage guide", () => {
  it("has a compile script that type-checks and bundles what the extension loads", () => {
    const compile = manifest.scripts.compile;
    expect(compile).toContain("npm run typecheck");
    expect(compile).toContain("npm run build");
    expect(manifest.scripts.build).toBe("node esbuild.mjs");
    expect(manifest.main).toBe("./out/extension.js"); // esbuild.mjs's default outfile
  });

  it("has a Run Extension launch configuration that compiles first", () => {
    const run = launch.configurations.find((c) => c.name === "Run Extension");
    expect(run?.type).toBe("extensionHost");
    expect(run?.args).toContain("--extensionDevelopmentPath=${workspaceFolder}");
    const task = tasks.tasks.find((t) => t.label === run?.preLaunchTask);
    expect(task).toMatchObject({ type: "npm", script: "compile" });
  });
});
