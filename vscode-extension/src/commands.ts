/** The commands' logic, on the editor interface: what each does, start to end. */

import { askMessages, streamAnswer } from "./ask";
import type { InvokeRequest, ResumeRequest } from "./agent/protocol";
import { runAgent, type AgentOutcome } from "./agent/session";
import type { EditorPort, SecretStore } from "./editor";
import { Cancelled, Gateway, GatewayError, baseUrlProblem, type FetchLike } from "./gateway";
import { routing, type Settings } from "./settings";
import { ClientTools } from "./tools/fileTools";
import { Sandbox } from "./tools/sandbox";

export interface CommandDeps {
  editor: EditorPort;
  settings(): Settings;
  secret: SecretStore;
  fetch?: FetchLike;
}

async function gatewayFor(deps: CommandDeps): Promise<Gateway | undefined> {
  const settings = deps.settings();
  const apiKey = await deps.secret.get();
  const problem = baseUrlProblem(settings.baseUrl, Boolean(apiKey));
  if (problem) {
    deps.editor.error(`OpenHands: ${problem}`);
    return undefined;
  }
  return new Gateway({
    baseUrl: settings.baseUrl,
    apiKey,
    timeoutMs: settings.timeoutMs,
    fetch: deps.fetch,
  });
}

export async function setGatewayKey(deps: CommandDeps): Promise<void> {
  const key = await deps.editor.askText(
    "Gateway key for the LLM API Aggregator (empty to remove it)",
    {
      password: true,
      placeHolder: "kept in VS Code's secret storage, never in settings.json",
    },
  );
  if (key === undefined) return;
  if (key.trim() === "") {
    await deps.secret.delete();
    deps.editor.info("OpenHands: gateway key removed.");
  } else {
    await deps.secret.store(key.trim());
    deps.editor.info("OpenHands: gateway key saved in secret storage.");
  }
}

export async function askOpenHands(deps: CommandDeps): Promise<void> {
  const { editor } = deps;
  const question = await editor.askText("Ask OpenHands about your code");
  if (!question?.trim()) return;
  const gateway = await gatewayFor(deps);
  if (!gateway) return;
  const settings = deps.settings();
  const messages = askMessages(question, editor.activeDocument(), settings.contextBudget);
  const out = editor.output;
  out.show();
  out.appendLine(`\n> ${question.trim()}\n`);
  try {
    const result = await editor.withProgress("OpenHands is answering", (signal) =>
      streamAnswer(gateway, settings, messages, out, signal),
    );
    const via = [result.provider, result.model].filter(Boolean).join(" / ");
    out.appendLine(via ? `\n\n(answered by ${via})` : "");
  } catch (err) {
    if (err instanceof Cancelled) {
      out.appendLine("\n\n[cancelled]");
      return;
    }
    if (!(err instanceof GatewayError)) throw err;
    out.appendLine(`\n\n[error] ${err.message}`);
    editor.error(`OpenHands: ${err.message}`);
  }
}

export async function invokeCodeAgent(deps: CommandDeps): Promise<AgentOutcome | undefined> {
  const { editor } = deps;
  const instruction = await editor.askText("What should the OpenHands agent do?", {
    placeHolder: "e.g. Read src/main.py and add docstrings to its functions",
  });
  if (!instruction?.trim()) return undefined;
  const gateway = await gatewayFor(deps);
  if (!gateway) return undefined;
  const settings = deps.settings();
  const doc = editor.activeDocument();
  const root = editor.workspaceRoot();
  const request: InvokeRequest = { instruction: instruction.trim(), ...routing(settings) };
  // A server that reaches the workspace writes there itself; make it ask first, as we do.
  if (settings.confirmWrites) request.confirm_writes = true;
  if (doc?.selectionText) request.context = doc.selectionText;
  if (doc?.languageId) request.language = doc.languageId;
  if (root) request.project_directory = root;

  const sandbox = root ? await Sandbox.open(root).catch(() => undefined) : undefined;
  const tools = new ClientTools(sandbox, {
    review: (change, signal) => editor.reviewWrite(change, signal),
  });
  const transport = {
    invoke: (body: InvokeRequest, signal: AbortSignal) =>
      gateway.postJson("/v1/agents/code/invoke", body, signal),
    resume: (body: ResumeRequest, signal: AbortSignal) =>
      gateway.postJson("/v1/agents/resume", body, signal),
  };
  const outcome = await editor.withProgress("OpenHands agent", (signal, progress) =>
    runAgent(
      request,
      transport,
      {
        askHuman: (question) => {
          // A question may carry a whole diff (a write to approve): the output channel shows
          // it in full, the input box its first line.
          editor.output.appendLine(`[agent asks] ${question}`);
          if (question.includes("\n")) editor.output.show();
          return editor.askText(`The agent asks: ${firstLine(question)}`);
        },
        runTool: async (call, toolSignal) => {
          const output = await tools.run(call, toolSignal);
          editor.output.appendLine(
            `[tool] ${call.name} ${describeArgs(call.args)} -> ${firstLine(output)}`,
          );
          return output;
        },
        progress: (message) => progress.report(message),
      },
      signal,
    ),
  );
  await finish(deps, outcome, doc);
  return outcome;
}

async function finish(
  deps: CommandDeps,
  outcome: AgentOutcome,
  doc: ReturnType<EditorPort["activeDocument"]>,
): Promise<void> {
  const { editor } = deps;
  const out = editor.output;
  if (outcome.kind === "cancelled") {
    editor.info("OpenHands: the agent run was cancelled.");
    return;
  }
  if (outcome.kind === "error") {
    out.appendLine(`[agent error] ${outcome.message}`);
    const thread = outcome.response?.thread_id;
    if (thread) out.appendLine(`  thread ${thread}`);
    editor.error(`OpenHands agent failed: ${outcome.message}`);
    return;
  }
  const { generated_code: code, explanation, model_used: model } = outcome.response;
  if (explanation) {
    out.appendLine(`\n${explanation}${model ? `\n(model: ${model})` : ""}`);
    out.show();
  }
  if (!code) {
    editor.info(`OpenHands: ${firstLine(explanation ?? "the agent finished")}`);
    return;
  }
  if (!doc) {
    await editor.openUntitled(code, undefined);
  } else if (deps.settings().completedAction === "diff") {
    await doc.reviewReplacement(code);
  } else if (!(await doc.insertAtCursor(code))) {
    await editor.openUntitled(code, doc.languageId);
  }
}

function firstLine(text: string): string {
  const line = text.split("\n", 1)[0];
  return line.length > 120 ? `${line.slice(0, 117)}...` : line;
}

function describeArgs(args: Record<string, unknown>): string {
  const path = args.path;
  return typeof path === "string" ? path : "";
}
