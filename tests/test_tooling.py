"""The locks: `make dev`/`make test` (requirements/dev.txt) and the image (requirements/runtime.txt)
run the same versions, and both cover what pyproject.toml asks for. `make lock` regenerates them."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
DEV_LOCK = ROOT / "requirements" / "dev.txt"
RUNTIME_LOCK = ROOT / "requirements" / "runtime.txt"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")
HASH = re.compile(r"--hash=(sha256:[0-9a-f]{64})")


def pins(lock: Path) -> dict[str, tuple[str, frozenset[str]]]:
    """name -> (version, hashes) of every requirement in a hashed lock file."""
    found: dict[str, tuple[str, frozenset[str]]] = {}
    for entry in re.split(r"\n(?=\S)", lock.read_text()):
        match = PIN.match(entry)
        if match is None:
            assert entry.startswith("#") or not entry.strip(), f"{lock.name}: not a pinned requirement: {entry!r}"
            continue
        name = canonicalize_name(match[1])
        hashes = frozenset(HASH.findall(entry))
        assert hashes, f"{lock.name}: {name} has no hash (pip --require-hashes would refuse the file)"
        assert name not in found, f"{lock.name}: {name} pinned twice"
        found[name] = (match[2], hashes)
    return found


def assert_covers(lock: Path, requirements: list[str]) -> None:
    locked = pins(lock)
    for text in requirements:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        assert name in locked, f"{lock.name} lacks {req.name}: run `make lock`"
        version = locked[name][0]
        assert req.specifier.contains(version, prereleases=True), \
            f"{lock.name} pins {name}=={version}, pyproject.toml asks {req}: run `make lock`"


def test_runtime_and_dev_locks_agree_on_every_shared_package():
    dev, runtime = pins(DEV_LOCK), pins(RUNTIME_LOCK)
    assert set(runtime) <= set(dev), f"only in the runtime lock: {sorted(set(runtime) - set(dev))}"
    differ = {name: (dev[name][0], runtime[name][0]) for name in runtime if dev[name] != runtime[name]}
    assert not differ, f"(dev, runtime) versions or hashes differ: {differ}; run `make lock`"


def test_locks_cover_pyproject_dependencies():
    assert_covers(RUNTIME_LOCK, PYPROJECT["project"]["dependencies"])
    assert_covers(DEV_LOCK, PYPROJECT["project"]["dependencies"])
    assert_covers(DEV_LOCK, PYPROJECT["project"]["optional-dependencies"]["dev"])


def test_dev_only_packages_stay_out_of_the_image():
    runtime = pins(RUNTIME_LOCK)
    for text in PYPROJECT["project"]["optional-dependencies"]["dev"]:
        assert canonicalize_name(Requirement(text).name) not in runtime, text


def test_image_and_venv_install_from_the_locks_with_hashes():
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert re.search(r"pip install --require-hashes -r requirements/runtime\.txt", dockerfile)
    assert re.search(r"pip install --no-deps \.", dockerfile), "the project itself adds nothing beyond the lock"
    makefile = (ROOT / "Makefile").read_text()
    stamp_rule = re.search(r"^\$\(STAMP\):(.*)$", makefile, re.M)
    assert stamp_rule and "$(LOCK)" in stamp_rule[1], "a lock change must reinstall .venv"
    assert re.search(r"^LOCK\s*:=\s*requirements/dev\.txt$", makefile, re.M)
    assert "install --require-hashes -r $(LOCK)" in makefile
