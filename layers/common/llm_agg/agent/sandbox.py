"""File access confined to one project directory, for tools a model drives.

A path from the model is relative, without ``..``, and must stay inside the root once every
symlink is resolved: the real paths of root and target are compared component by component
(``/root_evil`` is not inside ``/root``). The checked path is then opened one component at a
time from a descriptor of the root with ``O_NOFOLLOW``, so a symlink swapped in after the check
is refused rather than followed. Only regular files with one link are read (a hard link may be
a file outside) or written; secrets (``.env``, ``.git/``, keys, credential files and folders)
are neither listed nor touched; writes land in a temporary file beside the
target and are renamed over it.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import secrets
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

# Names (of a file or of any folder on the way) that hold credentials. Folders are refused
# whole: .docker/config.json, .kube/config, .config/gcloud/... never reach the model.
DENIED_NAMES = frozenset(
    {
        *(".env", ".envrc", ".git", ".git-credentials", ".gitcredentials", ".ssh", ".gnupg"),
        *(".netrc", "_netrc", ".npmrc", ".yarnrc", ".pypirc", ".htpasswd", ".pgpass"),
        *(".my.cnf", ".docker", ".dockercfg", ".kube", ".aws", ".azure", "gcloud"),
        *(".boto", ".s3cfg", ".vault-token", ".terraformrc", "terraform.rc", ".terraform"),
        *("credentials", "credentials.json", "application_default_credentials.json"),
    }
)
DENIED_PATTERNS = (
    *(".env.*", "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*"),
    *("*.pem", "*.key", "*.p12", "*.pfx", "*.jks", "*.keystore", "*.kdbx"),
    *("*.tfstate", "*.tfstate.*", "*.tfvars", "*service-account*.json", "*.ovpn"),
)
# Listed, but not walked into: large and never what a task is about.
UNWALKED = frozenset({"node_modules", "__pycache__", ".venv", "venv", ".mypy_cache", ".tox"})

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_SNIFF = 8192


class SandboxError(Exception):
    """A refused or failed file operation; the message is meant for the model."""


def denied(name: str) -> bool:
    # Lower case: on a case-insensitive disk '.ENV' is '.env'.
    name = name.lower()
    return name in DENIED_NAMES or any(fnmatch.fnmatchcase(name, p) for p in DENIED_PATTERNS)


def within(root: str, real: str) -> tuple[str, ...] | None:
    """``real``'s components below ``root`` (both real paths), or None when outside it."""
    root_parts, parts = Path(root).parts, Path(real).parts
    if parts[: len(root_parts)] != root_parts:
        return None
    return parts[len(root_parts) :]


def reachable(directory: str, roots: Sequence[Path] | None) -> str | None:
    """The real path of ``directory`` if this server may run file tools in it, else None."""
    if not os.path.isabs(directory) or os.open not in os.supports_dir_fd:
        return None
    real = os.path.realpath(directory)
    if not os.path.isdir(real):
        return None
    if roots is None:
        return real
    for root in roots:
        if within(os.path.realpath(root), real) is not None:
            return real
    return None


def _text(data: bytes, shown: str) -> str:
    if b"\0" in data[:_SNIFF]:
        raise SandboxError(f"{shown} is a binary file.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SandboxError(f"{shown} is not UTF-8 text.") from None


@dataclass(frozen=True)
class Entry:
    path: str  # relative to the root, '/'-separated
    kind: str  # "file", "dir", "link" or "other"
    dir_fd: int  # the open directory holding it, valid while the walk yields it
    name: str


class Sandbox:
    def __init__(self, root: str, max_bytes: int) -> None:
        self.root = os.path.realpath(root)
        self.max_bytes = max_bytes

    # --- paths ---------------------------------------------------------------------------

    def resolve(self, path: str) -> tuple[str, ...]:
        """The components below the root of the file ``path`` names, or ``SandboxError``."""
        if "\0" in path or len(path) > 4096:
            raise SandboxError("The path is not valid.")
        if path.startswith(("/", "~")) or os.path.isabs(path) or path[1:3] == ":\\":
            raise SandboxError(f"{path!r} is absolute: give a path relative to the project.")
        if "\\" in path:
            raise SandboxError(f"{path!r}: use '/' to separate directories.")
        parts = tuple(p for p in path.split("/") if p not in ("", "."))
        if ".." in parts:
            raise SandboxError(f"{path!r} contains '..': paths must stay inside the project.")
        self._allowed(path, parts)
        real = os.path.realpath(os.path.join(self.root, *parts))
        inside = within(self.root, real)
        if inside is None:
            raise SandboxError(f"{path!r} leads outside the project (through a symbolic link).")
        self._allowed(path, inside)
        return inside

    @staticmethod
    def _allowed(path: str, parts: Sequence[str]) -> None:
        for part in parts:
            if denied(part):
                raise SandboxError(f"{path!r} is off limits: {part!r} may hold secrets.")

    @contextlib.contextmanager
    def _directory(self, parts: Sequence[str], create: bool = False) -> Iterator[int]:
        """An open descriptor of the directory ``parts``, reached without following links."""
        fd = os.open(self.root, _DIR_FLAGS)
        try:
            for part in parts:
                if create and not _exists(part, fd):
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, 0o777, dir_fd=fd)
                try:
                    child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    raise SandboxError(f"No directory {'/'.join(parts)!r}.") from None
                except OSError:
                    shown = "/".join(parts)
                    if _is_link(part, fd):  # swapped in since the path was checked
                        raise SandboxError(f"{shown!r} is a symbolic link here; refused.") from None
                    raise SandboxError(f"{shown!r} is not a directory.") from None
                os.close(fd)
                fd = child
            yield fd
        finally:
            os.close(fd)

    # --- operations ----------------------------------------------------------------------

    def read_text(self, path: str) -> str:
        parts = self.resolve(path)
        text = self._read(parts, path)
        if text is None:
            raise SandboxError(f"No file {path!r}.")
        return text

    def current(self, path: str) -> str | None:
        """The text of ``path`` if it exists (for a diff before a write), else None."""
        return self._read(self.resolve(path), path)

    def _read(self, parts: tuple[str, ...], shown: str) -> str | None:
        if not parts:
            raise SandboxError(f"{shown!r} is a directory: use list_files.")
        with self._directory(parts[:-1]) as dir_fd:
            try:
                info = os.stat(parts[-1], dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                return None
            self._check_regular(info, shown)
            fd = os.open(parts[-1], _READ_FLAGS, dir_fd=dir_fd)
            with os.fdopen(fd, "rb") as handle:
                self._check_regular(os.fstat(handle.fileno()), shown)
                data = handle.read(self.max_bytes + 1)
        if len(data) > self.max_bytes:
            raise SandboxError(f"{shown} is larger than {self.max_bytes} bytes.")
        return _text(data, shown)

    def _check_regular(self, info: os.stat_result, shown: str) -> None:
        if stat.S_ISDIR(info.st_mode):
            raise SandboxError(f"{shown!r} is a directory: use list_files.")
        if not stat.S_ISREG(info.st_mode):
            raise SandboxError(f"{shown!r} is not a regular file.")
        if info.st_nlink > 1:
            # A hard link is the same file as one elsewhere, perhaps outside the project: which
            # cannot be told from here, so none is read.
            raise SandboxError(f"{shown!r} has other hard links; refused.")
        if info.st_size > self.max_bytes:
            raise SandboxError(
                f"{shown} is {info.st_size} bytes, over the limit of {self.max_bytes}."
            )

    def write_text(self, path: str, content: str) -> None:
        parts = self.resolve(path)
        if not parts:
            raise SandboxError("Name a file to write.")
        data = content.encode("utf-8")
        if len(data) > self.max_bytes:
            raise SandboxError(f"The content is over the limit of {self.max_bytes} bytes.")
        name = parts[-1]
        with self._directory(parts[:-1], create=True) as dir_fd:
            try:
                info: os.stat_result | None = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                info = None
            if info is not None and not stat.S_ISREG(info.st_mode):
                raise SandboxError(f"{path!r} exists and is not a regular file.")
            temp = f".llm-agg-{secrets.token_hex(8)}.tmp"
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(temp, flags, 0o666, dir_fd=dir_fd)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    if info is not None:
                        os.fchmod(handle.fileno(), stat.S_IMODE(info.st_mode))
                    handle.flush()
                    os.fsync(handle.fileno())
                os.rename(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp, dir_fd=dir_fd)
                raise

    def walk(self, path: str, recursive: bool) -> Iterator[Entry]:
        """The entries under ``path``, sorted, secrets left out; links are never followed."""
        parts = self.resolve(path)
        with self._directory(parts) as dir_fd:
            yield from self._walk(dir_fd, "/".join(parts), recursive)

    def _walk(self, dir_fd: int, prefix: str, recursive: bool) -> Iterator[Entry]:
        with os.scandir(dir_fd) as listing:
            entries = sorted(listing, key=lambda e: e.name)
        for entry in entries:
            if denied(entry.name):
                continue
            rel = f"{prefix}/{entry.name}" if prefix else entry.name
            if entry.is_symlink():
                kind = "link"
            elif entry.is_dir(follow_symlinks=False):
                kind = "dir"
            else:
                kind = "file" if entry.is_file(follow_symlinks=False) else "other"
            yield Entry(rel, kind, dir_fd, entry.name)
            if kind == "dir" and recursive and entry.name not in UNWALKED:
                try:
                    child = os.open(entry.name, _DIR_FLAGS, dir_fd=dir_fd)
                except OSError:
                    continue
                try:
                    yield from self._walk(child, rel, recursive)
                finally:
                    os.close(child)

    def read_entry(self, entry: Entry) -> str | None:
        """The text of a walked file, or None when it is too large, binary or not regular."""
        try:
            fd = os.open(entry.name, _READ_FLAGS, dir_fd=entry.dir_fd)
        except OSError:
            return None
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode) or info.st_nlink > 1 or info.st_size > self.max_bytes:
                return None
            data = handle.read(self.max_bytes + 1)
        try:
            return _text(data, entry.path) if len(data) <= self.max_bytes else None
        except SandboxError:
            return None


def _is_link(name: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _exists(name: str, dir_fd: int) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True
