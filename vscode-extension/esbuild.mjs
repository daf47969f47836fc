// One CommonJS file for VS Code's extension host; `vscode` is provided by the host.
// `node esbuild.mjs [outfile]`: the tests build a copy elsewhere to load the shipped bundle.
import process from "node:process";
import { build } from "esbuild";

await build({
  entryPoints: ["src/extension.ts"],
  bundle: true,
  outfile: process.argv[2] ?? "out/extension.js",
  format: "cjs",
  platform: "node",
  target: "node20",
  external: ["vscode"],
  minify: true,
  logLevel: "warning",
});
