"""The admin key of a local gateway: ``LLM_AGG_ADMIN_KEY``, or else a key made on first start
and kept in the data dir (mode 0600), printed once with where it lives."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from llm_agg.crypto.secret_file import read_or_create
from llm_agg.settings import Settings

ADMIN_KEY_FILE = "admin.key"
ADMIN_PREFIX = "sk-llmagg-admin-"


def admin_key_path(settings: Settings) -> Path:
    return settings.data_dir / ADMIN_KEY_FILE


def ensure_admin_key(settings: Settings, announce: Callable[[str], None] = print) -> Settings:
    """``settings`` with its admin key, making and announcing one if there is none yet."""
    if settings.admin_key:
        return settings
    path = admin_key_path(settings)
    content, created = read_or_create(
        path, lambda: (ADMIN_PREFIX + secrets.token_urlsafe(32)).encode()
    )
    key = content.decode().strip()
    if created:
        announce(
            f"llm-agg: made the admin key of this gateway: {key}\n"
            f"         It is kept in {path} (readable by you only) and not shown again;\n"
            f"         the admin API and `llm-agg configure --url` take it as the bearer key."
        )
    return replace(settings, admin_key=key)
