/**
 * Real processes for the integration tests: the repository's fake upstream model and
 * `llm-agg serve`, each on a free loopback port, from the Python virtualenv `make install` made.
 */

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const REPO = resolve(__dirname, "..", "..", "..");
// `make ext-test` names the virtualenv and so makes a missing one a failure, not a skip.
const required = process.env.LLM_AGG_VENV;
export const VENV = required ?? join(REPO, ".venv");
export const haveServer = existsSync(join(VENV, "bin", "llm-agg"));
if (required && !haveServer) throw new Error(`LLM_AGG_VENV=${required} has no bin/llm-agg`);

export async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
}

export class Proc {
  log = "";
  private constructor(private readonly child: ChildProcess) {
    child.stdout?.on("data", (chunk: Buffer) => (this.log += chunk.toString()));
    child.stderr?.on("data", (chunk: Buffer) => (this.log += chunk.toString()));
  }

  static start(command: string, args: string[], env: Record<string, string>): Proc {
    return new Proc(spawn(command, args, { cwd: REPO, env, stdio: ["ignore", "pipe", "pipe"] }));
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((done) => this.child.once("exit", done));
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }
}

async function waitFor(url: string, proc: Proc, seconds = 30): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    if (!proc.running) throw new Error(`${url} exited before answering:\n${proc.log}`);
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((done) => setTimeout(done, 100));
  }
  throw new Error(`${url} did not answer within ${seconds} s:\n${proc.log}`);
}

export interface Stack {
  gateway: string;
  upstream: string;
  dataDir: string;
  /** The one directory the server runs file tools under; workspaces elsewhere get client tools. */
  serverRoot: string;
  procs: Proc[];
}

/**
 * The fake model (playing groq) and the gateway in front of it. Only the variables given here
 * reach the server: no real provider key of this machine can be used by a test.
 */
export async function startStack(): Promise<Stack> {
  const [upstreamPort, gatewayPort] = [await freePort(), await freePort()];
  const dataDir = mkdtempSync(join(tmpdir(), "oh-it-data-"));
  const serverRoot = join(dataDir, "server-root");
  mkdirSync(serverRoot);
  const base = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dataDir, LANG: "C.UTF-8" };
  const python = join(VENV, "bin", "python");
  const upstreamProc = Proc.start(
    python,
    ["tests/fakes/fake_upstream.py", "--port", String(upstreamPort)],
    base,
  );
  const upstream = `http://127.0.0.1:${upstreamPort}`;
  const gatewayProc = Proc.start(
    join(VENV, "bin", "llm-agg"),
    ["serve", "--host", "127.0.0.1", "--port", String(gatewayPort)],
    {
      ...base,
      LLM_AGG_DATA_DIR: dataDir,
      GROQ_API_KEY: "test-key",
      GROQ_BASE_URL: `${upstream}/groq/v1`,
      // The server runs file tools only under these roots; the test workspace is not one, so the
      // agent hands its file tools to the client, as a deployed gateway does.
      LLM_AGG_AGENT_ROOTS: join(dataDir, "server-root"),
    },
  );
  const procs = [upstreamProc, gatewayProc];
  try {
    await waitFor(`${upstream}/_control/requests`, upstreamProc);
    const gateway = `http://127.0.0.1:${gatewayPort}`;
    await waitFor(`${gateway}/health`, gatewayProc);
    return { gateway, upstream, dataDir, serverRoot, procs };
  } catch (err) {
    await Promise.all(procs.map((p) => p.stop()));
    throw err;
  }
}

/** Queues answers of the fake model: `{body}` for a plain call, `{chunks, delay}` for a stream. */
export async function script(
  upstream: string,
  answers: unknown[],
  extra: Record<string, unknown> = {},
): Promise<void> {
  const response = await fetch(`${upstream}/_control/groq`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ answers, ...extra }),
  });
  if (!response.ok) throw new Error(`cannot script the fake model: HTTP ${response.status}`);
}

export async function upstreamLog(
  upstream: string,
): Promise<{ requests: Array<{ body: Record<string, unknown> }>; disconnects: number }> {
  return (await (await fetch(`${upstream}/_control/requests`)).json()) as {
    requests: Array<{ body: Record<string, unknown> }>;
    disconnects: number;
  };
}

export async function resetUpstream(upstream: string): Promise<void> {
  await fetch(`${upstream}/_control`, { method: "DELETE" });
}
