"""The file sandbox: every way out of the project is refused, and nothing outside it changes.

Each escape test snapshots everything beside the project (names, bytes, modes) and compares it
byte for byte afterwards.
"""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from llm_agg.agent.sandbox import Sandbox, SandboxError, reachable, within
from llm_agg.agent.tools import ToolContext
from llm_agg.agent.toolset import list_files, read_file, search_files, write_file

SECRET = b"outside secret \x00\x01 do not touch\n"


def snapshot(top: Path, skip: Path) -> dict[str, tuple[int, bytes | str | None]]:
    """Every path under ``top`` but ``skip``: its mode and its bytes (or link target)."""
    seen: dict[str, tuple[int, bytes | str | None]] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        here = Path(dirpath)
        if here == skip or skip in here.parents:
            continue
        for name in dirnames + filenames:
            path = here / name
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                content: bytes | str | None = os.readlink(path)
            elif stat.S_ISREG(info.st_mode):
                content = path.read_bytes()
            else:
                content = None
            seen[str(path.relative_to(top))] = (info.st_mode, content)
    return seen


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """(root, outside): the project ``root`` and, beside it, ``root_evil`` and ``outside``."""
    root = tmp_path / "root"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text("print('hi')\n")
    evil = tmp_path / "root_evil"
    evil.mkdir()
    (evil / "secret.txt").write_bytes(SECRET)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)
    (outside / "passwd").write_bytes(SECRET)
    before = snapshot(tmp_path, skip=root)
    yield root, outside
    assert snapshot(tmp_path, skip=root) == before, "something outside the root changed"


def sandbox(root: Path, max_bytes: int = 4096) -> Sandbox:
    return Sandbox(str(root), max_bytes)


def refused(action: object, *args: object) -> str:
    with pytest.raises(SandboxError) as caught:
        action(*args)  # type: ignore[operator]
    return str(caught.value)


# --- CVE-2025-53110: a sibling whose name starts with the root's ----------------------------


def test_a_sibling_sharing_the_roots_prefix_is_not_inside_it(world: tuple[Path, Path]) -> None:
    root, _ = world
    evil = root.parent / "root_evil"
    assert within(str(root), str(evil / "secret.txt")) is None
    assert within(str(root), str(root / "src")) == ("src",)
    assert reachable(str(evil), roots=[root]) is None
    assert reachable(str(root / "src"), roots=[root]) == str(root / "src")
    box = sandbox(root)
    assert "'..'" in refused(box.read_text, "../root_evil/secret.txt")
    assert "absolute" in refused(box.read_text, str(evil / "secret.txt"))
    assert "'..'" in refused(box.write_text, "../root_evil/new.txt", "x")


def test_a_link_to_the_sibling_is_refused(world: tuple[Path, Path]) -> None:
    root, _ = world
    (root / "evil").symlink_to(root.parent / "root_evil")
    box = sandbox(root)
    assert "outside the project" in refused(box.read_text, "evil/secret.txt")
    assert "outside the project" in refused(box.write_text, "evil/secret.txt", "pwned")
    assert "outside the project" in refused(box.write_text, "evil/new.txt", "pwned")


# --- CVE-2025-53109: a symlink inside the root pointing outside -----------------------------


def test_a_symlinked_file_pointing_outside_is_neither_read_nor_written(
    world: tuple[Path, Path],
) -> None:
    root, outside = world
    (root / "notes.txt").symlink_to(outside / "passwd")
    box = sandbox(root)
    assert "outside the project" in refused(box.read_text, "notes.txt")
    assert "outside the project" in refused(box.write_text, "notes.txt", "pwned")


def test_a_symlinked_directory_pointing_outside_is_refused_also_for_new_files(
    world: tuple[Path, Path],
) -> None:
    root, outside = world
    (root / "src" / "vendor").symlink_to(outside)
    box = sandbox(root)
    assert "outside the project" in refused(box.read_text, "src/vendor/secret.txt")
    assert "outside the project" in refused(box.write_text, "src/vendor/new.txt", "pwned")
    assert "outside the project" in refused(box.write_text, "src/vendor/deep/er/new.txt", "x")
    assert "outside the project" in refused(lambda: list(box.walk("src/vendor", False)))
    assert not (outside / "new.txt").exists() and not (outside / "deep").exists()


def test_a_dangling_link_to_a_file_not_yet_outside_is_refused(world: tuple[Path, Path]) -> None:
    root, outside = world
    (root / "later.txt").symlink_to(outside / "created-by-agent.txt")
    box = sandbox(root)
    assert "outside the project" in refused(box.write_text, "later.txt", "pwned")
    assert not (outside / "created-by-agent.txt").exists()


def test_a_link_to_an_absolute_system_file_is_refused(world: tuple[Path, Path]) -> None:
    root, _ = world
    (root / "hosts").symlink_to("/etc/hosts")
    (root / "null").symlink_to("/dev/null")
    box = sandbox(root)
    assert "outside the project" in refused(box.read_text, "hosts")
    assert "outside the project" in refused(box.read_text, "null")


def test_a_link_swapped_in_after_the_check_is_not_followed(
    world: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checked path is opened component by component without following links, so a
    directory replaced by a link between the check and the open is refused."""
    root, outside = world
    (root / "swap").mkdir()
    box = sandbox(root)
    checked = box.resolve("swap/secret.txt")
    (root / "swap").rmdir()
    (root / "swap").symlink_to(outside)
    monkeypatch.setattr(box, "resolve", lambda path: checked)
    assert "symbolic link here; refused" in refused(box.read_text, "swap/secret.txt")
    assert "symbolic link here; refused" in refused(box.write_text, "swap/secret.txt", "x")
    assert "symbolic link here; refused" in refused(box.write_text, "swap/new.txt", "x")


def test_walks_and_searches_do_not_follow_links(world: tuple[Path, Path]) -> None:
    root, outside = world
    (root / "src" / "out").symlink_to(outside)
    (root / "src" / "secret-link.txt").symlink_to(outside / "secret.txt")
    context = ToolContext(sandbox(root))
    listing = list_files(context, ".", recursive=True)
    assert listing.splitlines() == ["src/", "src/app.py", "src/out@", "src/secret-link.txt@"]
    assert search_files(context, "secret") == "No line contains 'secret'."


# --- what the path may be --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/etc/passwd", "absolute"),
        ("~/.bashrc", "absolute"),
        ("src/../../outside/secret.txt", "'..'"),
        ("src/../src/app.py", "'..'"),
        ("..", "'..'"),
        ("C:\\Windows\\win.ini", "absolute"),
        ("src\\app.py", "use '/'"),
        ("src/app.py\0.txt", "not valid"),
    ],
)
def test_paths_that_could_leave_the_root_are_refused(
    world: tuple[Path, Path], path: str, reason: str
) -> None:
    root, _ = world
    assert reason in refused(sandbox(root).read_text, path)
    assert reason in refused(sandbox(root).write_text, path, "x")


@pytest.mark.parametrize(
    "path",
    [
        *(".env", ".env.local", "config/.ENV", ".git/config", "deploy/server.pem", "id_rsa"),
        *("a.key", ".git-credentials", ".envrc", ".pgpass", ".netrc", ".docker/config.json"),
        *(".kube/config", "infra/terraform.tfstate", "infra/terraform.tfstate.backup"),
        *(".aws/credentials", ".azure/accessTokens.json", ".config/gcloud/credentials.db"),
        *("application_default_credentials.json", "my-service-account-key.json", "prod.tfvars"),
    ],
)
def test_secret_files_are_off_limits(world: tuple[Path, Path], path: str) -> None:
    root, _ = world
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("SECRET=1\n")
    box = sandbox(root)
    assert "off limits" in refused(box.read_text, path)
    assert "off limits" in refused(box.write_text, path, "x")
    assert target.read_text() == "SECRET=1\n"


def test_a_link_with_an_innocent_name_to_a_secret_is_off_limits(
    world: tuple[Path, Path],
) -> None:
    root, _ = world
    (root / ".env").write_text("KEY=1\n")
    (root / "settings.txt").symlink_to(root / ".env")
    assert "off limits" in refused(sandbox(root).read_text, "settings.txt")


def test_secret_files_are_neither_listed_nor_searched(world: tuple[Path, Path]) -> None:
    root, _ = world
    (root / ".env").write_text("TOKEN=needle\n")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("needle\n")
    (root / "src" / "key.pem").write_text("needle\n")
    (root / "src" / "ok.py").write_text("x = 'needle'\n")
    context = ToolContext(sandbox(root))
    assert list_files(context, ".", recursive=True).splitlines() == [
        "src/",
        "src/app.py",
        "src/ok.py",
    ]
    assert search_files(context, "needle") == "src/ok.py:1: x = 'needle'"


def test_a_hard_link_to_a_file_outside_is_neither_read_nor_searched(
    world: tuple[Path, Path],
) -> None:
    root, outside = world
    os.link(outside / "passwd", root / "src" / "notes.txt")
    box = sandbox(root)
    assert "hard link" in refused(box.read_text, "src/notes.txt")
    assert "hard link" in refused(box.current, "src/notes.txt")
    assert search_files(ToolContext(box), "outside") == "No line contains 'outside'."
    box.write_text("src/notes.txt", "mine now\n")  # replaces the link, not the outside file
    assert (root / "src" / "notes.txt").read_text() == "mine now\n"
    os.unlink(root / "src" / "notes.txt")


# --- what the file may be --------------------------------------------------------------------


def test_fifos_sockets_and_directories_are_not_read(world: tuple[Path, Path]) -> None:
    root, _ = world
    os.mkfifo(root / "pipe")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(root / "sock"))
        box = sandbox(root)
        assert "not a regular file" in refused(box.read_text, "pipe")  # and does not block
        assert "not a regular file" in refused(box.read_text, "sock")
        assert "not a regular file" in refused(box.write_text, "pipe", "x")
    assert "is a directory" in refused(box.read_text, "src")
    assert "is a directory" in refused(box.read_text, ".")


def test_files_over_the_size_cap_are_refused(world: tuple[Path, Path]) -> None:
    root, _ = world
    (root / "big.txt").write_text("x" * 5000)
    box = sandbox(root, max_bytes=4096)
    assert "over the limit of 4096" in refused(box.read_text, "big.txt")
    assert "over the limit of 4096" in refused(box.write_text, "new.txt", "y" * 5000)
    assert not (root / "new.txt").exists()


def test_binary_files_are_not_read(world: tuple[Path, Path]) -> None:
    root, _ = world
    (root / "img.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (root / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    box = sandbox(root)
    assert "binary" in refused(box.read_text, "img.png")
    assert "not UTF-8" in refused(box.read_text, "latin1.txt")


def test_a_missing_file_is_said_plainly(world: tuple[Path, Path]) -> None:
    root, _ = world
    box = sandbox(root)
    assert refused(box.read_text, "src/nope.py") == "No file 'src/nope.py'."
    assert refused(box.read_text, "nodir/nope.py") == "No directory 'nodir'."
    assert "is not a directory" in refused(lambda: list(box.walk("src/app.py", False)))


# --- what it may do --------------------------------------------------------------------------


def test_a_link_that_stays_inside_the_root_is_followed(world: tuple[Path, Path]) -> None:
    root, _ = world
    (root / "current").symlink_to(root / "src")
    box = sandbox(root)
    assert box.read_text("current/app.py") == "print('hi')\n"
    box.write_text("current/app.py", "print('bye')\n")
    assert (root / "src" / "app.py").read_text() == "print('bye')\n"
    assert (root / "current").is_symlink()


def test_a_write_replaces_the_file_atomically_and_keeps_its_mode(
    world: tuple[Path, Path],
) -> None:
    root, _ = world
    script = root / "src" / "run.sh"
    script.write_text("old\n")
    script.chmod(0o750)
    inode = script.stat().st_ino
    sandbox(root).write_text("src/run.sh", "new\n")
    assert script.read_text() == "new\n"
    assert stat.S_IMODE(script.stat().st_mode) == 0o750
    assert script.stat().st_ino != inode  # a new file renamed over the old one
    assert sorted(p.name for p in (root / "src").iterdir()) == ["app.py", "run.sh"]


def test_a_write_creates_missing_directories(world: tuple[Path, Path]) -> None:
    root, _ = world
    context = ToolContext(sandbox(root))
    assert (
        write_file(context, "pkg/sub/mod.py", "X = 1\n") == "Wrote 6 characters to pkg/sub/mod.py."
    )
    assert (root / "pkg" / "sub" / "mod.py").read_text() == "X = 1\n"
    assert read_file(context, "./pkg//sub/mod.py") == "X = 1\n"


def test_a_write_into_a_path_through_a_file_fails_cleanly(world: tuple[Path, Path]) -> None:
    root, _ = world
    assert "is not a directory" in refused(sandbox(root).write_text, "src/app.py/x", "y")


def test_listing_is_sorted_capped_and_skips_bulky_directories(world: tuple[Path, Path]) -> None:
    root, _ = world
    (root / "node_modules" / "left-pad").mkdir(parents=True)
    (root / "node_modules" / "left-pad" / "index.js").write_text("x")
    context = ToolContext(sandbox(root))
    assert list_files(context, ".", recursive=True).splitlines() == [
        "node_modules/",
        "src/",
        "src/app.py",
    ]
    assert list_files(context, "src") == "src/app.py"
    (root / "empty").mkdir()
    assert list_files(context, "empty") == "(empty directory)"


def test_the_server_reaches_only_existing_absolute_directories_under_its_roots(
    tmp_path: Path,
) -> None:
    (tmp_path / "a" / "proj").mkdir(parents=True)
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "link").symlink_to(tmp_path / "b")
    roots = [tmp_path / "a"]
    assert reachable(str(tmp_path / "a" / "proj"), None) == str(tmp_path / "a" / "proj")
    assert reachable(str(tmp_path / "a" / "proj"), roots) == str(tmp_path / "a" / "proj")
    assert reachable(str(tmp_path / "a" / "link"), roots) is None
    assert reachable(str(tmp_path / "b"), roots) is None
    assert reachable(str(tmp_path / "a" / "proj"), []) is None
    assert reachable("relative/dir", None) is None
    assert reachable(str(tmp_path / "missing"), None) is None


def test_a_search_stops_at_its_caps(
    world: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import llm_agg.agent.toolset as toolset

    root, _ = world
    for i in range(3):
        (root / f"f{i}.txt").write_text("hit\nhit\n")
    context = ToolContext(sandbox(root))
    monkeypatch.setattr(toolset, "MAX_MATCHES", 3)
    assert search_files(context, "hit").splitlines() == [
        "f0.txt:1: hit",
        "f0.txt:2: hit",
        "f1.txt:1: hit",
        "(stopped after 3 matches)",
    ]
    monkeypatch.setattr(toolset, "MAX_SEARCHED", 1)
    assert search_files(context, "hit").splitlines()[-1] == (
        "(stopped after 1 files: search a subdirectory)"
    )
