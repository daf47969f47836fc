"""The three things measured, as processes on loopback: the fake upstream alone ("direct"), our
gateway in front of it, and the LiteLLM proxy in front of it, with the same worker count.

Each runs in its own process group, so stopping it stops its workers and nothing else. Memory
and CPU are read from /proc over the whole process tree.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
CHAT_PATH = "/v1/chat/completions"
GATEWAY_MODEL = "groq/llama-3.3-70b-versatile"
LITELLM_VENV = BENCH / ".venv-litellm"
# Releases 1.82.7 and 1.82.8 of litellm were compromised on PyPI: never install them.
LITELLM_BAD = ("1.82.7", "1.82.8")
LITELLM_SPEC = "litellm[proxy]==1.108.7"
_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def base_env(logs: Path, **extra: str) -> dict[str, str]:
    """A small environment: no provider keys, proxies or cloud settings leak into a server,
    and whatever a server caches under HOME stays in this run's (git-ignored) logs."""
    # PYTHONPATH too: with it, another checkout (a "before") runs on this venv.
    keep = ("PATH", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE", "PYTHONPATH")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update(HOME=str(logs / "home"), NO_PROXY="127.0.0.1,localhost", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


@dataclass
class Server:
    name: str
    url: str  # the chat completions URL
    model: str
    ready_path: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    api_key: str | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    ready_after_s: float | None = None

    @property
    def origin(self) -> str:
        return self.url.removesuffix(CHAT_PATH)

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float) -> None:
        assert self.proc is not None
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}); see {self.log}")
            try:
                if httpx.get(self.origin + self.ready_path, timeout=1.0).status_code == 200:
                    self.ready_after_s = time.monotonic() - started
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f}s; see {self.log}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        pgid = self.proc.pid  # start_new_session: the group is the process's own
        os.killpg(pgid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.proc.wait(timeout=5)

    def tree(self) -> list[int]:
        assert self.proc is not None
        return process_tree(self.proc.pid)


def fake_upstream(port: int, chunks: int, chunk_delay_ms: float, logs: Path) -> Server:
    argv = [sys.executable, str(BENCH / "fake_upstream.py"), "--port", str(port)]
    argv += ["--chunks", str(chunks), "--chunk-delay-ms", str(chunk_delay_ms)]
    return Server(
        name="direct",
        url=f"http://127.0.0.1:{port}{CHAT_PATH}",
        model="llama-3.3-70b-versatile",
        ready_path="/health",
        argv=argv,
        env=base_env(logs),
        log=logs / "fake_upstream.log",
    )


def gateway(port: int, upstream_port: int, workers: int, logs: Path) -> Server:
    exe = Path(sys.executable).with_name("llm-agg")
    command = str(exe) if exe.exists() else shutil.which("llm-agg")
    if command is None:
        raise RuntimeError("llm-agg is not installed: run `make install` first")
    # A catalog without free-tier limits: the gateway would otherwise (rightly) hold the
    # load to Groq's 30 requests a minute, and the bench would measure its 429s.
    catalog = logs / "llm-agg-providers.yaml"
    catalog.parent.mkdir(parents=True, exist_ok=True)
    catalog.write_text(
        "providers:\n  groq:\n    models:\n"
        "      - {id: llama-3.3-70b-versatile, capabilities: [tools, json]}\n"
    )
    env = base_env(
        logs,
        GROQ_BASE_URL=f"http://127.0.0.1:{upstream_port}/v1",
        GROQ_API_KEY="x",
        LLM_AGG_DATA_DIR=str(logs / "llm-agg-data"),
        LLM_AGG_CONFIG=str(catalog),
    )
    return Server(
        name="llm-agg",
        url=f"http://127.0.0.1:{port}{CHAT_PATH}",
        model=GATEWAY_MODEL,
        ready_path="/health",
        argv=[command, "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        log=logs / "llm-agg.log",
    )


def litellm(port: int, upstream_port: int, workers: int, logs: Path) -> Server:
    config = logs / "litellm.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        "model_list:\n"
        "  - model_name: mock\n"
        "    litellm_params:\n"
        "      model: openai/mock\n"
        f"      api_base: http://127.0.0.1:{upstream_port}/v1\n"
        "      api_key: x\n"
    )
    # LiteLLM refuses weak master keys; a fresh one per run, never written to the results.
    key = "sk-" + secrets.token_urlsafe(32)
    env = base_env(
        logs,
        LITELLM_MASTER_KEY=key,
        # Offline: its price map and tokenizers would otherwise be fetched (and block).
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
    )
    argv = [str(LITELLM_VENV / "bin" / "litellm"), "--config", str(config)]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--num_workers", str(workers)]
    if workers > 1:
        # On a busy machine its workers take longer to import than uvicorn's 5 s health
        # check allows, and get killed and restarted again and again. Start-up only.
        argv += ["--timeout_worker_healthcheck", "60"]
    return Server(
        name="LiteLLM",
        url=f"http://127.0.0.1:{port}{CHAT_PATH}",
        model="mock",
        ready_path="/health/liveliness",
        argv=argv,
        env=env,
        log=logs / "litellm.log",
        api_key=key,
    )


def litellm_version() -> str | None:
    python = LITELLM_VENV / "bin" / "python"
    if not python.exists():
        return None
    probe = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return probe.stdout.strip() or None if probe.returncode == 0 else None


def ensure_litellm(spec: str, log: Path) -> str:
    """Install LiteLLM into its own virtualenv under bench/ (never our dependency)."""
    wanted = spec.partition("==")[2] or None
    version = litellm_version()
    if version is None or (wanted is not None and version != wanted):
        print(f"installing {spec} into {LITELLM_VENV} (a minute or two) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(LITELLM_VENV)], check=True)
        excluded = [f"litellm!={bad}" for bad in LITELLM_BAD]
        with log.open("ab") as out:
            subprocess.run(
                [str(LITELLM_VENV / "bin" / "pip"), "install", spec, *excluded],
                stdout=out,
                stderr=subprocess.STDOUT,
                check=True,
            )
        version = litellm_version()
    if version is None:
        raise RuntimeError(f"litellm did not install; see {log}")
    if version in LITELLM_BAD:
        raise RuntimeError(f"litellm {version} is a compromised release: refusing to run it")
    return version


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise RuntimeError("wrk is missing: `sudo apt-get install -y wrk`")
    print("installing wrk from Debian packages ...", flush=True)
    install = ["apt-get", "install", "-y", "wrk"]
    if subprocess.run(install, check=False, capture_output=True).returncode:
        subprocess.run(["apt-get", "update"], check=True, capture_output=True)
        subprocess.run(install, check=True, capture_output=True)
    found = shutil.which("wrk")
    if found is None:
        raise RuntimeError("wrk did not install")
    return found


def process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, ()))
    return tree


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time these processes have used so far."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / _TICK


@dataclass(frozen=True)
class Memory:
    processes: int
    workers: int
    rss_all_mb: float
    rss_workers_mb: float
    pss_all_mb: float


def memory(pids: list[int]) -> Memory:
    """RSS of the whole tree, and of its workers: the leaves, less multiprocessing helpers.

    RSS counts pages shared between forks once per process; PSS splits them, so its sum is
    what the tree really holds.
    """
    parents: set[int] = set()
    info: dict[int, tuple[float, float, str]] = {}
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        pss = next(
            int(line.split()[1]) * 1024 for line in rollup.splitlines() if line[:4] == "Pss:"
        )
        parents.add(int(stat[1]))
        info[pid] = (rss / 2**20, pss / 2**20, cmd)
    workers = [
        pid
        for pid, (_, _, cmd) in info.items()
        if pid not in parents and "resource_tracker" not in cmd
    ]
    return Memory(
        processes=len(info),
        workers=len(workers),
        rss_all_mb=sum(v[0] for v in info.values()),
        rss_workers_mb=sum(info[p][0] for p in workers),
        pss_all_mb=sum(v[1] for v in info.values()),
    )
