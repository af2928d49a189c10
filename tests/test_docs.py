"""The documentation follows the code: the settings page is the generator's output, the API page
lists every route with the roles it admits, the README stays short, and relative links resolve."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from api.access import rule_for
from api.app import create_app
from models.config import Settings
from models.principals import ROLES
from workers import configdoc

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"
PAGES = [README, *sorted(DOCS.glob("*.md")), ROOT / "deploy" / "README.md", ROOT / "deploy" / "RULES.md"]
SCOPED = "scoped"  # the matrix's last column: a principal scoped to a shop may call it
FRAMEWORK_ROUTES = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}

# [text](target) and [text]: target, outside code: a target without a scheme is a path in the repo.
LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)|^\[[^\]\n]+\]:\s*(\S+)", re.M)
CODE = re.compile(r"^```.*?^```|`[^`\n]*`", re.M | re.S)


def relative_links(page: Path) -> list[str]:
    """Links to files of the repository (an anchor in the page itself is "#part")."""
    text = CODE.sub("", page.read_text(encoding="utf-8"))
    targets = [a or b for a, b in LINK.findall(text)]
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t, re.I)]


def anchors(page: Path) -> set[str]:
    """The ids GitHub gives a page's headings: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.M | re.S)
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*#*$", text, re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def test_configuration_page_is_the_generators_output():
    page = DOCS / "configuration.md"
    assert page.read_text(encoding="utf-8") == configdoc.render(), \
        "docs/configuration.md is stale: python -m workers.configdoc --write"


def test_configuration_page_names_every_setting_once():
    text = configdoc.render()
    for name, field in Settings.model_fields.items():
        (variable, *_) = configdoc.env_names(name, field, Settings.model_config["env_prefix"])
        assert text.count(f"| `{variable}`") == 1, variable
    assert "`DATABASE_URL` or `ORDERHUB_DATABASE_URL`" in text
    assert "| `ORDERHUB_RULES_FILE` | path | `deploy/rules.yaml` |" in text  # not this checkout's absolute path


def test_configdoc_check_flags_a_stale_page(tmp_path, monkeypatch):
    monkeypatch.setattr(configdoc, "OUTPUT", tmp_path / "docs" / "configuration.md")
    monkeypatch.setattr(configdoc, "ROOT", tmp_path)
    assert configdoc.main(["--check"]) == 1  # missing
    assert configdoc.main(["--write"]) == 0
    assert configdoc.main(["--check"]) == 0
    configdoc.OUTPUT.write_text(configdoc.OUTPUT.read_text() + "edited by hand\n")
    assert configdoc.main(["--check"]) == 1


def test_readme_is_short():
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines < 200, f"README.md has {lines} lines; details belong in docs/"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_at_files(page):
    missing = []
    for link in relative_links(page):
        path, _, anchor = link.partition("#")
        target = page.parent / path if path else page
        if not target.exists() or (anchor and target.suffix == ".md" and anchor not in anchors(target)):
            missing.append(link)
    assert not missing, f"{page.relative_to(ROOT)} links to missing files or headings: {missing}"


def test_link_finder_sees_links_and_skips_code(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("[a](docs/a.md) [b](https://x.org) [c](#top) `[d](no.md)`\n[e]: ../e.md\n"
                    "```\n[f](no.md)\n```\n[g](b.md#part)\n")
    assert relative_links(page) == ["docs/a.md", "#top", "../e.md", "b.md#part"]
    page.write_text("# The `teams.<name>` key\n## Fault drills, 1,000 orders\n```\n# not a heading\n```\n")
    assert anchors(page) == {"the-teamsname-key", "fault-drills-1000-orders"}


def _api_routes():
    """(METHOD path) -> the roles require() admits (empty: no token), from the app's own routes."""
    app = create_app(Settings(_env_file=None), migrate=False)
    routes: dict[str, set[str]] = {}
    pending = list(app.routes)
    while pending:
        route = pending.pop()
        if hasattr(route, "original_router"):  # FastAPI keeps an included router whole
            pending.extend(route.original_router.routes)
            continue
        if route.path in FRAMEWORK_ROUTES or not hasattr(route, "dependant"):
            continue
        rule = rule_for(route)
        roles = set(rule.roles) | ({SCOPED} if rule.scoped else set()) if rule else set()
        for method in route.methods - {"HEAD"}:
            routes[f"{method} {route.path}"] = roles
    assert set(routes) == {f"{m.upper()} {p}" for p, ops in app.openapi()["paths"].items() for m in ops}
    return routes


def _role_matrix() -> dict[str, set[str]]:
    text = (DOCS / "api.md").read_text(encoding="utf-8")
    section = text.split("### Role matrix", 1)[1].split("\n## ", 1)[0]
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in section.splitlines()
            if line.startswith("|")]
    header, _, *body = rows
    assert header[1:] == [*ROLES, SCOPED]
    return {row[0].strip("`"): {role for role, cell in zip([*ROLES, SCOPED], row[1:], strict=False) if cell == "✓"}
            for row in body}


def test_api_page_role_matrix_matches_the_routes():
    assert _role_matrix() == _api_routes()


def test_api_page_describes_every_route():
    headings = set(re.findall(r"^### `([A-Z]+ \S+)`$", (DOCS / "api.md").read_text(encoding="utf-8"), re.M))
    assert headings == set(_api_routes())


def test_every_setting_says_what_it_is_for():
    """docs/configuration.md is generated from these descriptions: a setting without one would be a
    blank row there."""
    from models.config import Settings

    assert [name for name, field in Settings.model_fields.items() if not (field.description or "").strip()] == []
