"""The rules file: the shipped one loads, bad ones are refused naming line and key, and the store
keeps running rules when a change is bad."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from models.exceptions import CONTRACT_TAGS, Severity
from models.regions import REGIONS
from models.rules import DEFAULT_RULES_FILE, LOW_HEALTH, RulesError, RulesStore, load_rules, parse_rules

SHIPPED = DEFAULT_RULES_FILE.read_text(encoding="utf-8")


def line_of(text: str, needle: str) -> int:
    """1-based line of the first line containing needle."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def refused(text: str) -> RulesError:
    with pytest.raises(RulesError) as exc:
        parse_rules(text, "deploy/rules.yaml")
    return exc.value


def edit(old: str, new: str) -> str:
    assert SHIPPED.count(old) >= 1, old
    return SHIPPED.replace(old, new, 1)


def test_shipped_rules_load():
    rules = load_rules(DEFAULT_RULES_FILE)
    assert set(CONTRACT_TAGS) | {LOW_HEALTH} <= set(rules.tags)
    assert {"address_desk", "payments", "inventory", "risk", "customer_care", "review"} <= set(rules.teams)
    assert rules.tag("fuzzy_address").severity is Severity.HOLD
    assert rules.tag("dispute_words").severity is Severity.FLAG
    assert rules.tag(LOW_HEALTH).team == "review"
    assert set(rules.routing.region_order) == set(REGIONS)
    assert rules.routing.criteria == ["nearest", "stock", "fewest_packages"]
    assert "12315" in rules.detect.dispute_words.words
    assert rules.detect.fraud.unpaid_burst.max_unpaid == 3
    assert rules.sla.review_alert_s < rules.sla.review_escalate_s


def test_rules_helpers():
    rules = load_rules(DEFAULT_RULES_FILE)
    hit = rules.hit("out_of_stock", "no stock for SKU-1")
    assert (hit.tag, hit.severity, hit.team) == ("out_of_stock", Severity.HOLD, "inventory")
    assert rules.team("risk").supervisor == "risk-lead"
    with pytest.raises(KeyError):
        rules.tag("nope")


@pytest.mark.parametrize("old, new, needle, words", [
    ("severity: hold", "severity: hodl", "severity: hodl",
     ["tags.fuzzy_address.severity", "'flag' or 'hold'"]),
    ("health_penalty: 20", "health_penalty: 20\n    helth_penalty: 5", "helth_penalty",
     ["tags.fuzzy_address.helth_penalty", "Extra inputs"]),
    ("team: payments", "team: payment", "team: payment",
     ["tags.payment_callback_failed.team", "unknown team 'payment'"]),
    ("    tag: dispute_words", "    tag: disputes", "tag: disputes",
     ["detect.dispute_words.tag", "unknown tag 'disputes'"]),
    ("{field: buyer.phone, tag: invalid_phone}", "{field: buyer.phone, tag: bad_phone}", "tag: bad_phone",
     ["detect.required_fields[2].tag", "unknown tag 'bad_phone'"]),
    ("  low_health:", "  low_health_typo:", "tags:", ["tags", "missing required tag 'low_health'"]),
    ("1[3-9]", "1[3-9", "1[3-9", ["detect.phone_format.patterns[0]", "not a valid regular expression"]),
    ("    east:      [east,", "    eats:      [east,", "eats:", ["routing.region_order.eats", "unknown region 'eats'"]),
    ("[northeast, north, east,", "[northeast, north, mars,", "[northeast, north, mars",
     ["routing.region_order.northeast[2]", "unknown region 'mars'"]),
    ("review_alert_s: 7200", "review_alert_s: 14400", "review_alert_s: 14400",
     ["sla.review_alert_s", "less than review_escalate_s"]),
    ("{field: buyer.city,", "{field: buyer.cty,", "buyer.cty", ["detect.required_fields[0].field", "buyer.cty"]),
    ("merge: {enabled: true, window_s: 600}", "merge: {enabled: true, window_s: 0}", "window_s: 0",
     ["routing.merge.window_s", "greater than 0"]),
], ids=["severity", "unknown-key", "missing-team", "detector-tag", "required-field-tag", "contract-tag",
        "regex", "region-key", "region-item", "sla-order", "field-path", "positive"])
def test_bad_rules_are_refused_with_line_and_key(old, new, needle, words):
    text = edit(old, new)
    err = refused(text)
    assert err.source == "deploy/rules.yaml"
    assert err.line == line_of(text, needle), str(err)
    for word in words:
        assert word in err.reason
    assert str(err).startswith(f"deploy/rules.yaml:{err.line}: ")


def test_missing_key_points_at_its_parent():
    text = edit("{owner: review-desk,    supervisor: ops-lead}", "{owner: review-desk}")
    err = refused(text)
    assert err.line == line_of(text, "review:        {owner")
    assert err.reason == "teams.review.supervisor: Field required"


def test_yaml_syntax_error_reports_its_line():
    text = edit("  criteria: [nearest, stock, fewest_packages]", "  criteria: [nearest, stock\n  merge: x: y")
    err = refused(text)
    assert err.line == line_of(text, "merge: x: y")
    assert err.reason.startswith("YAML syntax:")


def test_duplicate_key_is_refused():
    text = edit("version: 1\n", "version: 1\nversion: 1\n")
    err = refused(text)
    assert (err.line, err.reason) == (line_of(text, "version") + 1, "version: duplicate key")


def test_several_problems_are_all_reported():
    # Field errors come together; the cross-reference checks run once the fields are valid.
    text = edit("severity: hold", "severity: hodl").replace("max_unpaid: 3", "max_unpaid: 0")
    err = refused(text)
    assert "tags.fuzzy_address.severity" in err.reason and len(err.others) == 1
    assert f"deploy/rules.yaml:{line_of(text, 'max_unpaid: 0')}: detect.fraud.unpaid_burst.max_unpaid" in str(err)


def test_not_a_mapping_and_missing_file():
    assert refused("- a\n- b\n").line == 1
    with pytest.raises(RulesError) as exc:
        load_rules(Path("/nonexistent/rules.yaml"))
    assert exc.value.line is None and exc.value.source == "/nonexistent/rules.yaml"


def write(path: Path, text: str, bump: int) -> None:
    path.write_text(text, encoding="utf-8")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + bump * 1_000_000_000))  # a change, whatever the fs clock


def test_store_refuses_a_bad_file_at_start(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(edit("severity: hold", "severity: hodl"), encoding="utf-8")
    with pytest.raises(RulesError):
        RulesStore(path)


def test_store_keeps_running_rules_on_a_bad_change_and_takes_a_good_one(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(SHIPPED, encoding="utf-8")
    store = RulesStore(path, check_interval_s=0)
    first_hash = store.version_hash
    assert store.source == str(path) and store.last_error is None and len(first_hash) == 12
    assert store.current.detect.fraud.unpaid_burst.max_unpaid == 3

    bad = edit("team: payments", "team: payment")
    write(path, bad, 1)
    with capture_logs() as logs:
        rules = store.current
    assert rules.tag("payment_callback_failed").team == "payments"  # the running rules stay
    assert store.last_error is not None and store.last_error.line == line_of(bad, "team: payment")
    assert store.version_hash == first_hash
    rejected = [e for e in logs if e["event"] == "rules.rejected"]
    assert rejected and rejected[0]["line"] == store.last_error.line and "unknown team" in rejected[0]["reason"]
    with capture_logs() as logs:
        _ = store.current  # the same bad file is not re-read nor re-logged
    assert not logs

    write(path, edit("max_unpaid: 3", "max_unpaid: 5"), 2)
    loaded_before = store.loaded_at
    assert store.current.detect.fraud.unpaid_burst.max_unpaid == 5
    assert store.last_error is None and store.version_hash != first_hash and store.loaded_at >= loaded_before


def test_store_reload_raises_on_a_bad_file_and_keeps_the_rules(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(SHIPPED, encoding="utf-8")
    store = RulesStore(path)
    path.write_text("version: 1\nteams: [\n", encoding="utf-8")
    with pytest.raises(RulesError) as exc:
        store.reload()
    assert store.last_error is exc.value
    assert store.current.tag("fuzzy_address").team == "address_desk"
    path.unlink()
    with pytest.raises(RulesError):
        store.reload()
    assert store.current.teams


def test_store_checks_the_file_at_most_once_per_interval(tmp_path):
    now = [100.0]
    path = tmp_path / "rules.yaml"
    path.write_text(SHIPPED, encoding="utf-8")
    store = RulesStore(path, clock=lambda: now[0])
    write(path, edit("max_unpaid: 3", "max_unpaid: 4"), 1)
    now[0] += 0.5
    assert store.current.detect.fraud.unpaid_burst.max_unpaid == 3  # not looked at yet
    now[0] += 0.5
    assert store.current.detect.fraud.unpaid_burst.max_unpaid == 4
