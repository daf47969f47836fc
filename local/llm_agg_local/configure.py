"""``llm-agg configure``: add, check, list and remove provider accounts.

Works on the local store directly (the data dir of ``llm-agg serve``), or on a deployment
through its admin API (``--url`` with ``--admin-key``). Keys are read hidden (getpass) or from
stdin (``--key-stdin``), never from the command line, where shell history would keep them.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

import httpx
from pydantic import ValidationError

from llm_agg.admin.accounts import SKIP_CHECK, account_states, add_account, check_account
from llm_agg.admin.models import CredentialIn, account_id_problem
from llm_agg.admin.views import credential
from llm_agg.api.errors import GatewayError
from llm_agg.api.validation import invalid_request
from llm_agg.runtime import Runtime
from llm_agg.settings import Settings
from llm_agg.store.base import StoreError


class ConfigureError(Exception):
    """Said to the user as it is; holds no key. ``code`` is the gateway's error code, if any."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code

    def said(self, skip_check: str) -> str:
        """The message, with the way to skip a failed live check said as this user does it."""
        text = str(self)
        return text.replace(SKIP_CHECK, skip_check) if self.code == UNCHECKED else text


UNCHECKED = "verification_failed"  # the key could not be checked: the provider did not answer


class Admin(Protocol):
    where: str

    def providers(self) -> list[str]: ...
    def add(self, body: dict[str, Any]) -> dict[str, Any]: ...
    def accounts(self) -> list[dict[str, Any]]: ...
    def remove(self, provider: str, account_id: str) -> None: ...
    def check(self, provider: str, account_id: str) -> dict[str, Any]: ...


def _validated(body: dict[str, Any]) -> CredentialIn:
    try:
        return CredentialIn.model_validate(body)
    except ValidationError as exc:
        raise ConfigureError(invalid_request(exc).message) from None


class LocalAdmin:
    """The store of this machine's gateway, opened directly (a running server picks changes
    up within seconds)."""

    def __init__(self, settings: Settings) -> None:
        self.runtime = Runtime(settings)
        self.where = f"the local store ({settings.store}, {settings.data_dir})"

    def providers(self) -> list[str]:
        return sorted(self.runtime.specs)

    def add(self, body: dict[str, Any]) -> dict[str, Any]:
        parsed = _validated(body)
        if parsed.provider not in self.runtime.specs:
            raise ConfigureError(f"unknown provider {parsed.provider!r}")

        async def run() -> dict[str, Any]:
            try:
                added = await add_account(self.runtime, parsed)
            finally:
                await self.runtime.aclose()
            return {
                **credential(added.state),
                "verification": added.verdict.to_dict() if added.verdict else None,
            }

        return self._run(run())

    def _run(self, work: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
        try:
            return asyncio.run(work)
        except GatewayError as exc:
            raise ConfigureError(exc.message, exc.code) from None
        except StoreError as exc:
            raise ConfigureError(str(exc)) from None

    def accounts(self) -> list[dict[str, Any]]:
        return [credential(s) for s in account_states(self.runtime)]

    def remove(self, provider: str, account_id: str) -> None:
        if not self.runtime.stored.vault.delete(provider, account_id):
            raise ConfigureError(f"no stored account {provider}/{account_id}")

    def check(self, provider: str, account_id: str) -> dict[str, Any]:
        if provider not in self.runtime.specs:
            raise ConfigureError(f"unknown provider {provider!r}")

        async def run() -> dict[str, Any]:
            try:
                verdict = await check_account(self.runtime, provider, account_id)
            finally:
                await self.runtime.aclose()
            if verdict is None:
                raise ConfigureError(f"no account {provider}/{account_id}")
            return verdict.to_dict()

        return self._run(run())


class RemoteAdmin:
    """A deployment's admin API."""

    def __init__(self, url: str, admin_key: str) -> None:
        self.where = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.where, headers={"authorization": f"Bearer {admin_key}"}, timeout=60
        )

    def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ConfigureError(f"cannot reach {self.where}: {type(exc).__name__}") from None
        try:
            data = response.json()
        except ValueError:
            data = {}
        if response.status_code >= 400:
            error = (data.get("error") or {}) if isinstance(data, dict) else {}
            message = error.get("message") or f"HTTP {response.status_code}"
            raise ConfigureError(message, error.get("code"))
        return data

    def providers(self) -> list[str]:
        return [p["provider"] for p in self._send("GET", "/admin/providers")["data"]]

    def add(self, body: dict[str, Any]) -> dict[str, Any]:
        _validated(body)  # say what is wrong before anything is sent
        result: dict[str, Any] = self._send("POST", "/admin/credentials", json=body)
        return result

    def accounts(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self._send("GET", "/admin/credentials")["data"]
        return data

    def remove(self, provider: str, account_id: str) -> None:
        self._send("DELETE", f"/admin/credentials/{provider}/{account_id}")

    def check(self, provider: str, account_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._send(
            "POST", f"/admin/credentials/{provider}/{account_id}/check"
        )
        return result


def table(accounts: list[dict[str, Any]]) -> str:
    rows = [("PROVIDER", "ACCOUNT", "SOURCE", "KEY", "ENABLED", "LAST ERROR")]
    for a in accounts:
        rows.append(
            (
                a["provider"],
                a["account_id"],
                a["source"],
                a["key"] or "-",
                "yes" if a["enabled"] else "no",
                a.get("last_error") or a.get("problem") or "",
            )
        )
    if len(rows) == 1:
        return "No accounts yet."
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def check_line(provider: str, account: str, verdict: dict[str, Any]) -> str:
    ok = verdict.get("ok")
    state = "works" if ok is True else "REFUSED" if ok is False else "could not be checked"
    return f"{provider}/{account} {state}: {verdict.get('message')}."


def verdict_line(result: dict[str, Any]) -> str:
    where = f"{result['provider']}/{result['account_id']}"
    check = result.get("verification")
    if check is None:
        return f"Stored {where} (not checked with the provider)."
    return f"Works: {check['message']}. Stored {where}."


def parse_header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise ConfigureError(f"a header is 'Name: value', not {text!r}")
    return name.strip(), value.strip()


class Terminal:
    """The prompts of the interactive mode (replaced in tests)."""

    def __init__(
        self,
        ask: Callable[[str], str] = input,
        secret: Callable[[str], str] = getpass.getpass,
        say: Callable[[str], None] = print,
    ) -> None:
        self.ask, self.secret, self.say = ask, secret, say


def _add_interactively(admin: Admin, term: Terminal) -> None:
    providers = admin.providers()
    provider = term.ask(f"Provider ({', '.join(providers)}): ").strip()
    if provider not in providers:
        term.say(f"Unknown provider {provider!r}.")
        return
    account = term.ask("Account name [default]: ").strip() or "default"
    problem = account_id_problem(account)
    if problem:  # said before the key, headers and check are typed in for nothing
        term.say(f"Not a valid account name: {problem}.")
        return
    key = term.secret("API key (hidden): ").strip()
    headers: dict[str, str] = {}
    term.say("Extra headers, one 'Name: value' a line (e.g. HTTP-Referer: https://me); empty ends.")
    while line := term.ask("  header: ").strip():
        try:
            name, value = parse_header(line)
        except ConfigureError as exc:
            term.say(str(exc))
            continue
        headers[name] = value
    check = term.ask("Check the key with the provider now? [Y/n]: ").strip().lower() != "n"
    body = {
        "provider": provider,
        "account_id": account,
        "api_key": key,
        "additional_headers": headers,
        "verify": check,
    }
    try:
        term.say(verdict_line(admin.add(body)))
    except ConfigureError as exc:
        said = exc.said("answer n when asked to check the key")
        term.say(said if said.startswith("Not stored") else f"Not stored: {said}")


def _check_interactively(admin: Admin, term: Terminal) -> None:
    target = term.ask("Check which account (provider/account)? ").strip()
    provider, _, account = target.partition("/")
    try:
        term.say(check_line(provider, account, admin.check(provider, account)))
    except ConfigureError as exc:
        term.say(f"Not checked: {exc}")


def _remove_interactively(admin: Admin, term: Terminal) -> None:
    target = term.ask("Remove which account (provider/account)? ").strip()
    provider, _, account = target.partition("/")
    try:
        admin.remove(provider, account)
        term.say(f"Removed {provider}/{account}.")
    except ConfigureError as exc:
        term.say(f"Not removed: {exc}")


def interactive(admin: Admin, term: Terminal) -> int:
    term.say(f"Configuring provider accounts in {admin.where}.")
    term.say(table(admin.accounts()))
    while True:
        try:
            choice = term.ask(
                "\n[a]dd an account, [c]heck one, [r]emove one, [l]ist, [q]uit: "
            ).strip()
        except EOFError:
            return 0
        if choice in ("q", "quit", ""):
            return 0
        choice = choice.lower()
        if choice in ("a", "add"):
            _add_interactively(admin, term)
        elif choice in ("c", "check"):
            _check_interactively(admin, term)
        elif choice in ("r", "remove"):
            _remove_interactively(admin, term)
        elif choice in ("l", "list"):
            term.say(table(admin.accounts()))


def _admin(args: argparse.Namespace) -> Admin:
    if args.url:
        key = args.admin_key or os.environ.get("LLM_AGG_ADMIN_KEY")
        if not key:
            if not sys.stdin.isatty():
                raise ConfigureError("--url needs --admin-key (or env LLM_AGG_ADMIN_KEY)")
            key = getpass.getpass("Admin key (hidden): ").strip()
        return RemoteAdmin(args.url, key)
    settings = Settings.from_env()
    if args.store:
        settings = Settings.from_env({**os.environ, "LLM_AGG_STORE": args.store})
    return LocalAdmin(settings)


def configure(args: argparse.Namespace) -> int:
    try:
        problem = args.account and account_id_problem(args.account)
        if problem:  # before the admin key or the provider key is read
            raise ConfigureError(f"--account: {problem}")
        admin = _admin(args)
        if args.list:
            print(table(admin.accounts()))
            return 0
        if args.remove:
            if not (args.provider and args.account):
                raise ConfigureError("--remove needs --provider and --account")
            admin.remove(args.provider, args.account)
            print(f"Removed {args.provider}/{args.account}.")
            return 0
        if args.provider or args.account or args.key_stdin:
            if not (args.provider and args.account and args.key_stdin):
                raise ConfigureError("adding needs --provider, --account and --key-stdin")
            body = {
                "provider": args.provider,
                "account_id": args.account,
                "api_key": sys.stdin.readline().strip(),
                "additional_headers": dict(parse_header(h) for h in args.header),
                "verify": not args.no_verify,
                "enabled": not args.disabled,
            }
            print(verdict_line(admin.add(body)))
            return 0
        return interactive(admin, Terminal())
    except ConfigureError as exc:
        print(f"error: {exc.said('add --no-verify to store it unchecked')}", file=sys.stderr)
        return 1


def add_parser(sub: Any) -> None:
    p = sub.add_parser("configure", help="add, check, list and remove provider accounts")
    p.add_argument("--url", help="a deployment's URL: use its admin API, not the local store")
    p.add_argument("--admin-key", help="the admin key for --url (env LLM_AGG_ADMIN_KEY)")
    p.add_argument("--store", choices=("sqlite", "dynamodb"), help="the local store's kind")
    p.add_argument("--provider")
    p.add_argument("--account", help="the account's name (e.g. a1, work)")
    p.add_argument("--key-stdin", action="store_true", help="read the API key from stdin")
    p.add_argument(
        "--header", action="append", default=[], help="an extra header 'Name: value' (repeat)"
    )
    p.add_argument("--no-verify", action="store_true", help="store without a live check")
    p.add_argument("--disabled", action="store_true", help="store the account disabled")
    p.add_argument("--list", action="store_true", help="list the accounts and exit")
    p.add_argument("--remove", action="store_true", help="remove --provider/--account")
    p.set_defaults(func=configure)
