"""Imports point one way: models <- activities <- workflows <- api <- workers, and nothing but tests
imports sandbox/ or bench/. The contracts live in pyproject's [tool.importlinter]; import-linter
checks them on the source (imports inside functions too), so `make test` keeps them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("models", "activities", "workflows", "api", "workers", "sandbox", "bench")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` on the packages under `root`, with the project's contracts (no cache left behind)."""
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--no-logo", "--config", str(root / "pyproject.toml")],
                          cwd=root, capture_output=True, text=True, timeout=120)


def test_the_import_contracts_are_kept():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


# One import against each rule, each in a module of its own (a probe), in a copy of the source tree.
PROBES = {
    "api/_probe_workers.py": ("from workers import stack\n", "api is not allowed to import workers"),
    "activities/_probe_workflows.py": ("from workflows.order import OrderWorkflow\n",
                                       "activities is not allowed to import workflows"),
    "models/_probe_activities.py": ("def late():\n    from activities import orders\n",
                                    "models is not allowed to import activities"),
    "workers/_probe_sandbox.py": ("def serve():\n    import sandbox.app\n", "workers is not allowed to import sandbox"),
    "api/_probe_bench.py": ("import bench.priority\n", "api is not allowed to import bench"),
}


def test_an_import_against_the_rules_breaks_a_contract(tmp_path: Path):
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__", "results"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for path, (source, _) in PROBES.items():
        (tmp_path / path).write_text(source)

    result = lint_imports(tmp_path)

    assert result.returncode == 1, result.stdout + result.stderr
    for path, (_, rule) in PROBES.items():
        probe = path.removesuffix(".py").replace("/", ".")
        assert rule in result.stdout
        assert f"{probe} -> " in result.stdout, f"{probe} not reported:\n{result.stdout}"
