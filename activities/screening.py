"""The rule engine: which exception tags an order raises under the configured rules.

Pure functions (no I/O, no clock, no database): the caller brings the order, what the database
knows about its buyer (BuyerFacts) and the rules, so the same inputs always give the same hits and
a workflow can call them directly. Reasons name the kind of problem and the configured keyword that
matched, never the buyer's name, phone or address.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import lru_cache

from models.exceptions import BuyerFacts, ExceptionHit
from models.money import fen_to_yuan
from models.order import Buyer, Order
from models.rules import Rules

Finding = tuple[str, str]  # (tag, reason)


@lru_cache(maxsize=1024)
def _keyword_re(keyword: str) -> re.Pattern[str]:
    # A Latin/digit keyword must begin a word so "near" does not fire on "Linear Rd"; Chinese has no
    # word boundaries, so other keywords match anywhere.
    lead = r"(?<![a-z0-9])" if re.match(r"[a-z0-9]", keyword, re.IGNORECASE) else ""
    return re.compile(lead + re.escape(keyword.casefold()))


def _matches(text: str, words: Iterable[str]) -> list[str]:
    """The configured words found in text, ignoring case, in configured order."""
    folded = text.casefold()
    return [w for w in words if _keyword_re(w).search(folded)]


def _place(buyer: Buyer) -> str:
    # Joined by a newline so no keyword matches across the district/address seam.
    return f"{buyer.district}\n{buyer.address}"


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _resolve(obj: object, path: str) -> object:
    for part in path.split("."):
        obj = getattr(obj, part, None)
    return obj


def _address_keywords(buyer: Buyer, rules: Rules) -> Iterator[Finding]:
    rule = rules.detect.address_keywords
    if rule.enabled and (found := _matches(_place(buyer), rule.keywords)):
        yield rule.tag, f"address has vague-location words: {', '.join(found)}"


def _phone_format(phone: str, rules: Rules) -> Iterator[Finding]:
    rule = rules.detect.phone_format
    if not rule.enabled:
        return
    number = re.sub(r"[\s\-]", "", phone)  # "138 1234 5678", "010-12345678" are written that way
    if not any(re.fullmatch(pattern, number) for pattern in rule.patterns):
        yield rule.tag, "phone number matches none of the accepted formats"
    run = rule.reject_repeated_digits
    if run and re.search(rf"(\d)\1{{{run - 1},}}", number):
        yield rule.tag, f"phone number has {run} or more of the same digit in a row"


def _required_fields(root: object, rules: Rules, *, buyer_only: bool, channel: str | None) -> Iterator[Finding]:
    """Blank required fields: those under buyer. on a Buyer, the others on an Order; an entry naming
    channels applies to their orders only."""
    for rf in rules.detect.required_fields:
        if rf.field.startswith("buyer.") != buyer_only or (rf.channels and channel not in rf.channels):
            continue
        path = rf.field.removeprefix("buyer.") if buyer_only else rf.field
        if _blank(_resolve(root, path)):
            yield rf.tag, f"{rf.field} is blank"


def _address_findings(buyer: Buyer, rules: Rules, channel: str | None) -> Iterator[Finding]:
    yield from _address_keywords(buyer, rules)
    yield from _phone_format(buyer.phone, rules)
    yield from _required_fields(buyer, rules, buyer_only=True, channel=channel)


def _message_findings(message: str | None, rules: Rules) -> Iterator[Finding]:
    rule = rules.detect.dispute_words
    if rule.enabled and message and (found := _matches(message, rule.words)):
        yield rule.tag, f"buyer message has dispute words: {', '.join(found)}"


def _fraud_findings(order: Order, facts: BuyerFacts, rules: Rules) -> Iterator[Finding]:
    rule = rules.detect.fraud
    if not rule.enabled:
        return
    burst = rule.unpaid_burst
    if burst.enabled:
        # Counts exclude this order: with max_unpaid 3 the 4th order in the window is the first hit.
        # This order's own payment state does not matter; the burst of unpaid ones does.
        window = _duration(burst.window_s)
        if facts.unpaid_by_buyer >= burst.max_unpaid:
            yield rule.tag, f"buyer has {facts.unpaid_by_buyer} other unpaid orders within {window}"
        if facts.unpaid_by_device >= burst.max_unpaid:
            yield rule.tag, f"device has {facts.unpaid_by_device} other unpaid orders within {window}"
    pickup = rule.new_buyer_pickup
    if (pickup.enabled and facts.earlier_orders == 0 and order.total_amount >= pickup.min_amount_fen
            and _matches(_place(order.buyer), rules.detect.address_keywords.pickup_keywords)):
        yield rule.tag, (f"first order of a new buyer, {fen_to_yuan(pickup.min_amount_fen)} yuan or more, "
                         "to a pick-up point")


def _merge(findings: Iterable[Finding], rules: Rules) -> list[ExceptionHit]:
    """One hit per tag (reasons joined, duplicates dropped), sorted by tag for a stable result."""
    reasons: dict[str, list[str]] = {}
    for tag, reason in findings:
        if reason not in (bucket := reasons.setdefault(tag, [])):
            bucket.append(reason)
    return [rules.hit(tag, "; ".join(reasons[tag])) for tag in sorted(reasons)]


def screen_address(buyer: Buyer, rules: Rules, channel: str | None = None) -> list[ExceptionHit]:
    """Address keywords, phone format and required buyer fields: for a new or corrected address."""
    return _merge(_address_findings(buyer, rules, channel), rules)


def screen_message(message: str | None, rules: Rules) -> list[ExceptionHit]:
    """Dispute words in a buyer message (at intake or a later one)."""
    return _merge(_message_findings(message, rules), rules)


def screen_order(order: Order, facts: BuyerFacts, rules: Rules) -> list[ExceptionHit]:
    """Every detector on a new order: at most one hit per tag, sorted by tag."""
    return _merge([
        *_address_findings(order.buyer, rules, order.channel),
        *_required_fields(order, rules, buyer_only=False, channel=order.channel),
        *_fraud_findings(order, facts, rules),
        *_message_findings(order.buyer_message, rules),
    ], rules)
