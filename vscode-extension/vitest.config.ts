import { resolve } from "node:path";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    environment: "node",
    // `vscode` exists only inside the editor; the tests that load it get test/vscodeMock.ts.
    alias: { vscode: resolve(__dirname, "test/vscodeMock.ts") },
    testTimeout: 20_000,
  },
});
