"""The sandbox is an independent implementation of the platforms, carrier and gateway: no module of it
imports the hub (activities, workflows, models, api, workers) or the benchmarks, so nothing the hub gets
wrong can be mirrored by the sandbox."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SANDBOX = REPO / "sandbox"
HUB = {"activities", "workflows", "models", "api", "workers", "bench"}


def first_party() -> set[str]:
    """Every top-level package or module of the repository except the sandbox itself (and the tests)."""
    found = {p.name for p in REPO.iterdir() if p.is_dir() and not p.name.startswith(".") and any(p.glob("**/*.py"))}
    found |= {p.stem for p in REPO.glob("*.py")}
    return (found | HUB) - {"sandbox", "tests"}


FORBIDDEN = first_party()


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(source: str, package: str) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in `source`, a module of `package`: relative imports
    resolved, names given to importlib.import_module / __import__ as string constants included."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = parts[: len(parts) - (node.level - 1)]
                found.append((node.lineno, ".".join([*base, *([node.module] if node.module else [])])))
            else:
                found.append((node.lineno, node.module or ""))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in ("import_module", "__import__"):
                found.append((node.lineno, node.args[0].value))
    return found


def imports_of(path: Path) -> list[tuple[int, str]]:
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    return imported(path.read_text(encoding="utf-8"), package)


def sandbox_files() -> list[Path]:
    return sorted(SANDBOX.rglob("*.py"))


def test_the_forbidden_list_knows_the_hub():
    assert HUB <= FORBIDDEN and "sandbox" not in FORBIDDEN
    assert all((REPO / name).is_dir() for name in HUB)


def test_no_sandbox_module_imports_the_hub_or_the_benchmarks():
    assert len(sandbox_files()) > 20  # the walk does see the sandbox
    offending = [f"{path.relative_to(REPO)}:{line} imports {name}"
                 for path in sandbox_files() for line, name in imports_of(path)
                 if name.split(".")[0] in FORBIDDEN]
    assert offending == []


def test_the_import_walk_catches_each_form():
    source = ("import models.order\nfrom activities.channels import signing\nimport os, workers.cli as w\n"
              "from . import state\nfrom .. import gateway\nfrom .base import Platform\n"
              "importlib.import_module('bench.run')\n__import__('workflows')\n"
              "def f():\n    from api.app import create_app\n")
    assert [name for _, name in imported(source, "sandbox.platforms")] == [
        "models.order", "activities.channels", "os", "workers.cli", "sandbox.platforms", "sandbox",
        "sandbox.platforms.base", "bench.run", "workflows", "api.app"]


def test_importing_every_sandbox_module_loads_nothing_of_the_hub():
    """Also catches what the source walk cannot see (an import built at run time)."""
    script = (
        "import importlib, pkgutil, sys, sandbox\n"
        "for info in pkgutil.walk_packages(sandbox.__path__, 'sandbox.'):\n"
        "    importlib.import_module(info.name)\n"
        "from sandbox.app import create_app\n"
        "create_app()\n"
        f"forbidden = {sorted(FORBIDDEN)!r}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in forbidden))\n"
        "print(sorted(m for m in sys.modules if m == 'sandbox' or m.startswith('sandbox.')))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    loaded, sandbox_modules = result.stdout.strip().splitlines()
    assert loaded == "[]"
    assert sandbox_modules == str(sorted(module_name(p) for p in sandbox_files()))  # every module was imported
