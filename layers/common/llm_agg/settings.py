"""Settings of one gateway process, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

StoreKind = Literal["sqlite", "moto", "dynamodb"]
_STORES: tuple[StoreKind, ...] = ("sqlite", "moto", "dynamodb")


def _default_config() -> Path:
    # The repository's config/ beside layers/common/llm_agg, else the working directory's.
    beside = Path(__file__).resolve().parents[3] / "config" / "providers.yaml"
    return beside if beside.is_file() else Path("config/providers.yaml")


DISCOVERY_INTERVAL = 3600.0
KEY_RECHECK_INTERVAL = 1800.0


def _number(env: Mapping[str, str], name: str, kind: type[float] | type[int]) -> float | None:
    """A positive number from ``name``, or None when unset; anything else is a clear error
    at start, not a surprise on the first request."""
    text = (env.get(name) or "").strip()
    if not text:
        return None
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or value <= 0:
        what = "a whole number" if kind is int else "a number"
        raise ValueError(f"{name} must be {what} above 0, not {text!r}")
    return value


def positive(environ: Mapping[str, str], name: str, default: float) -> float:
    """A positive number from ``environ[name]`` (``default`` when unset), or ``ValueError``
    naming the variable."""
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {raw!r}") from None
    if value <= 0:
        raise ValueError(f"{name} must be positive, not {raw!r}")
    return value


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    config_path: Path = field(default_factory=_default_config)
    data_dir: Path = field(default_factory=lambda: Path.home() / ".local/share/llm-agg")
    store: StoreKind = "sqlite"
    require_auth: bool = False
    environ: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    connect_timeout: float = 5.0
    # Attempts per request (None: the catalog's ``defaults.max_attempts``, else
    # DEFAULT_MAX_ATTEMPTS). Admissions refused without a call do not count.
    max_attempts: int | None = None
    deadline: float = 120.0  # seconds for a whole request, every attempt included
    # Seconds between two checks of a key the provider refused (0: only when asked).
    recheck_interval: float = 0.0
    max_body_bytes: int = 20 * 1024 * 1024
    admin_key: str | None = field(default=None, repr=False)
    credentials_table: str = "llm-agg-credentials"
    runtime_table: str = "llm-agg-runtime"
    usage_table: str = "llm-agg-usage"
    kms_key_id: str | None = None
    # Seconds between reads of each provider's models endpoint for routing (0: never; the
    # default of a process started from the environment is DISCOVERY_INTERVAL).
    discovery_interval: float = 0.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        store = env.get("LLM_AGG_STORE", "sqlite")
        if store not in _STORES:
            raise ValueError(f"LLM_AGG_STORE must be one of {', '.join(_STORES)}, not {store!r}")
        config = env.get("LLM_AGG_CONFIG")
        data_dir = env.get("LLM_AGG_DATA_DIR")
        defaults = cls()
        return cls(
            config_path=Path(config) if config else defaults.config_path,
            data_dir=Path(data_dir).expanduser() if data_dir else defaults.data_dir,
            store=store,
            # On Lambda the gateway is public: a client key is always required there.
            require_auth=_flag(env.get("LLM_AGG_REQUIRE_AUTH"))
            or bool(env.get("AWS_LAMBDA_FUNCTION_NAME")),
            environ=env,
            admin_key=env.get("LLM_AGG_ADMIN_KEY", "").strip() or None,
            credentials_table=env.get("LLM_AGG_CREDENTIALS_TABLE") or defaults.credentials_table,
            runtime_table=env.get("LLM_AGG_RUNTIME_TABLE") or defaults.runtime_table,
            usage_table=env.get("LLM_AGG_USAGE_TABLE") or defaults.usage_table,
            kms_key_id=env.get("LLM_AGG_KMS_KEY_ID") or None,
            discovery_interval=float(env.get("LLM_AGG_DISCOVERY_INTERVAL") or DISCOVERY_INTERVAL),
            max_attempts=(
                int(n) if (n := _number(env, "LLM_AGG_MAX_ATTEMPTS", int)) is not None else None
            ),
            deadline=_number(env, "LLM_AGG_DEADLINE", float) or defaults.deadline,
            recheck_interval=float(env.get("LLM_AGG_KEY_RECHECK_INTERVAL") or KEY_RECHECK_INTERVAL),
        )
