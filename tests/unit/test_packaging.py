"""The hashed lock files agree with the pins they are made from (`make lock` writes them).

requirements.lock is what `make install` installs (runtime, `local` and `dev`),
layers/common/requirements.txt what SAM puts in the Lambda layer, infra/sam-translator.txt the
translator's own virtualenv. Each must hold every pin of its source, at that version, with
hashes (pip's --require-hashes refuses a lock that lacks any), and the layer must ship the very
versions the tests ran against.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
DEV_LOCK = ROOT / "requirements.lock"
LAYER_LOCK = ROOT / "layers/common/requirements.txt"
SAM_LOCK = ROOT / "infra/sam-translator.txt"
LOCKS = [DEV_LOCK, LAYER_LOCK, SAM_LOCK]


@dataclass(frozen=True)
class Locked:
    version: str
    hashes: tuple[str, ...]


def _entries(text: str) -> list[list[str]]:
    """A pip requirements file's logical lines: continuations joined, comments dropped."""
    entries: list[list[str]] = []
    for line in text.splitlines():
        body = line.split(" #", 1)[0].strip() if not line.lstrip().startswith("#") else ""
        if not body:
            continue
        parts = body.removesuffix("\\").split()
        if line[:1].isspace() and entries:
            entries[-1] += parts
        else:
            entries.append(parts)
    return entries


def _lock(path: Path) -> dict[tuple[str, str], Locked]:
    """(name, marker) -> what is locked; universal locks may hold a name once per marker."""
    locked: dict[tuple[str, str], Locked] = {}
    for parts in _entries(path.read_text()):
        hashes = tuple(p.removeprefix("--hash=") for p in parts if p.startswith("--hash="))
        requirement = Requirement(" ".join(p for p in parts if not p.startswith("--hash=")))
        (spec,) = requirement.specifier  # exactly one pin
        assert spec.operator == "==", f"{path.name}: {requirement} is not pinned"
        key = (canonicalize_name(requirement.name), str(requirement.marker or ""))
        locked[key] = Locked(spec.version, hashes)
    return locked


def _pins(requirements: list[str]) -> dict[str, str]:
    pins = {}
    for text in requirements:
        requirement = Requirement(text)
        (spec,) = requirement.specifier
        assert spec.operator == "==", f"{text} is not pinned"
        pins[canonicalize_name(requirement.name)] = spec.version
    return pins


def _versions(path: Path) -> dict[str, set[str]]:
    versions: dict[str, set[str]] = {}
    for (name, _), entry in _lock(path).items():
        versions.setdefault(name, set()).add(entry.version)
    return versions


def _project() -> dict[str, list[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {"": project["dependencies"], **project["optional-dependencies"]}


def _source_pins(path: Path) -> list[str]:
    return [" ".join(parts) for parts in _entries(path.read_text())]


def _check_hashes(locked: dict[tuple[str, str], Locked], path: Path) -> None:
    for (name, _), entry in locked.items():
        assert entry.hashes, f"{path.name}: {name} has no hash"
        for digest in entry.hashes:
            algorithm, _, value = digest.partition(":")
            assert algorithm == "sha256" and len(value) == 64, (name, digest)


@pytest.mark.parametrize("path", LOCKS, ids=lambda p: p.name)
def test_every_locked_package_is_pinned_with_sha256_hashes(path: Path) -> None:
    locked = _lock(path)
    assert len(locked) > 10
    _check_hashes(locked, path)


def test_the_install_lock_holds_every_pin_of_pyproject_at_its_version() -> None:
    locked = _versions(DEV_LOCK)
    for extra, requirements in _project().items():
        for name, version in _pins(requirements).items():
            assert locked.get(name) == {version}, f"[{extra or 'runtime'}] {name}=={version}"


def test_the_layer_lock_holds_the_runtime_pins_and_nothing_but_runtime() -> None:
    layer = _versions(LAYER_LOCK)
    for name, version in _pins(_project()[""]).items():
        assert layer.get(name) == {version}, f"{name}=={version}"
    dev_only = set(_pins(_project()["dev"])) - set(_pins(_project()[""]))
    assert not dev_only & set(layer), "a dev tool would ship in the Lambda layer"


def test_the_layer_ships_the_versions_the_tests_run_against() -> None:
    installed = _versions(DEV_LOCK)
    for name, versions in _versions(LAYER_LOCK).items():
        assert versions <= installed.get(name, set()), f"{name}: {versions} vs {installed[name]}"


def test_the_translator_lock_holds_every_pin_of_its_source() -> None:
    locked = _versions(SAM_LOCK)
    for name, version in _pins(_source_pins(ROOT / "infra/sam-translator.in")).items():
        assert locked.get(name) == {version}, f"{name}=={version}"


def test_a_lock_without_a_hash_or_a_pin_is_refused(tmp_path: Path) -> None:
    unhashed = tmp_path / "unhashed.txt"
    unhashed.write_text("idna==3.21 \\\n    # via httpx\n")
    with pytest.raises(AssertionError, match="no hash"):
        _check_hashes(_lock(unhashed), unhashed)
    loose = tmp_path / "loose.txt"
    loose.write_text("idna>=3 \\\n    --hash=sha256:" + "0" * 64 + "\n")
    with pytest.raises(AssertionError, match="not pinned"):
        _lock(loose)


def _recipe(makefile: str, target: str) -> str:
    """The commands of one Makefile rule, continuation lines joined."""
    lines = makefile.split(f"\n{target}:", 1)[1].split("\n")[1:]
    commands = []
    for line in lines:
        if not line.startswith("\t"):
            break
        commands.append(line.strip())
    return " ".join(commands).replace("\\ ", " ")


def test_make_install_takes_every_package_from_a_hashed_lock() -> None:
    makefile = (ROOT / "Makefile").read_text()
    install = _recipe(makefile, "$(STAMP)")
    assert "pip install --quiet --require-hashes -r requirements.lock" in install
    # The project itself: no dependency resolved past the lock, no unhashed build backend.
    assert "--no-deps --no-build-isolation -e ." in install
    assert install.count("pip install") == 2, "every install goes through the lock"
    translator = _recipe(makefile, "$(SAM_STAMP)")
    assert "--require-hashes -r infra/sam-translator.txt" in translator
