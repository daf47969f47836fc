import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["out/", "node_modules/", "*.vsix"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ["src/**/*.ts"],
    rules: {
      // The logic is tested without an editor: only these two modules may touch the VS Code API.
      "no-restricted-imports": [
        "error",
        { paths: [{ name: "vscode", message: "use the EditorPort interface (src/editor.ts)" }] },
      ],
    },
  },
  {
    files: ["src/extension.ts", "src/vscodeEditor.ts"],
    rules: { "no-restricted-imports": "off" },
  },
);
