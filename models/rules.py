"""The exception rules: which problems the engine looks for, who owns each, how fast they must act.

One YAML file (deploy/rules.yaml, documented in deploy/RULES.md) read at start and re-read when it
changes. Every model forbids unknown keys so a typo is refused instead of silently ignored, and every
refusal names the file, the line and the key, because the people editing it are operators, not us.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import structlog
import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PositiveInt, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from models.exceptions import (
    CONTRACT_TAGS,
    DISPUTE_WORDS,
    FUZZY_ADDRESS,
    INVALID_PHONE,
    SUSPECTED_FRAUD,
    ExceptionHit,
    Severity,
)
from models.order import Channel, Order
from models.regions import REGIONS

log = structlog.get_logger(__name__)

LOW_HEALTH = "low_health"  # the review queue for orders whose health score fell below health.review_below
REQUIRED_TAGS = (*CONTRACT_TAGS, LOW_HEALTH)
DEFAULT_RULES_FILE: Path = Path(__file__).resolve().parent.parent / "deploy" / "rules.yaml"


def _problem(reason: str) -> PydanticCustomError:
    # A template with one placeholder: reasons quote regexes, whose braces must not be formatted.
    return PydanticCustomError("rules", "{reason}", {"reason": reason})


def _problems(title: str, found: list[tuple[tuple[str | int, ...], str]]) -> ValidationError:
    """Cross-field problems as one ValidationError whose locs point at the offending keys; pydantic
    prefixes them with the enclosing path when raised from a nested model's validator."""
    return ValidationError.from_exception_data(
        title, [{"type": _problem(reason), "loc": loc, "input": None} for loc, reason in found])


def _regex(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as err:
        raise _problem(f"not a valid regular expression ({err}): {pattern}") from None
    return pattern


def _text_field(path: str) -> str:
    """A dotted path to a text field of Order (e.g. buyer.district), checked against the model."""
    model: type[BaseModel] | None = Order
    annotation: Any = None
    for depth, part in enumerate(path.split(".")):
        info = model.model_fields.get(part) if model else None
        if info is None:
            raise _problem(f"{path!r} is not a field of the order (no {'.'.join(path.split('.')[:depth + 1])})")
        annotation = info.annotation
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    if annotation not in (str, str | None):
        raise _problem(f"{path!r} is not a text field of the order")
    return path


Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]  # tag and team names: they reach search attributes
Audience = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]
Word = Annotated[str, Field(min_length=1, max_length=64)]
Regex = Annotated[str, Field(min_length=1), AfterValidator(_regex)]
FieldPath = Annotated[str, AfterValidator(_text_field)]
Criterion = Literal["nearest", "stock", "fewest_packages"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Team(_Strict):
    owner: Audience  # notifier audience that works the team's queue
    supervisor: Audience  # notifier audience an overdue item escalates to


class TagRule(_Strict):
    severity: Severity
    team: Name
    procedure: str = Field(min_length=1, max_length=1000)
    health_penalty: int = Field(default=0, ge=0, le=100)


class _Detector(_Strict):
    enabled: bool = True


class AddressKeywords(_Detector):
    tag: Name = FUZZY_ADDRESS
    keywords: list[Word]
    pickup_keywords: list[Word] = []


class PhoneFormat(_Detector):
    tag: Name = INVALID_PHONE
    patterns: list[Regex] = Field(min_length=1)
    reject_repeated_digits: int = Field(default=8, ge=0, le=32)

    @model_validator(mode="after")
    def _repeat_is_sane(self) -> PhoneFormat:
        if self.reject_repeated_digits in (1, 2):  # would refuse nearly every real number
            raise _problems("PhoneFormat", [(("reject_repeated_digits",), "must be 0 (off) or at least 3")])
        return self


class RequiredField(_Strict):
    field: FieldPath
    tag: Name
    # Only orders of these channels (empty: all). Shopify addresses have no district, for one.
    channels: list[Channel] = []


class UnpaidBurst(_Strict):
    enabled: bool = True
    max_unpaid: int = Field(default=3, ge=1)
    window_s: PositiveInt = 3600


class NewBuyerPickup(_Strict):
    enabled: bool = True
    min_amount_fen: int = Field(default=100_000, ge=0)


class Fraud(_Detector):
    tag: Name = SUSPECTED_FRAUD
    unpaid_burst: UnpaidBurst = UnpaidBurst()
    new_buyer_pickup: NewBuyerPickup = NewBuyerPickup()


class DisputeWords(_Detector):
    tag: Name = DISPUTE_WORDS
    words: list[Word]


class Detect(_Strict):
    address_keywords: AddressKeywords
    phone_format: PhoneFormat
    required_fields: list[RequiredField] = []
    fraud: Fraud = Fraud()
    dispute_words: DisputeWords


class Sla(_Strict):
    review_alert_s: PositiveInt = 7200
    review_escalate_s: PositiveInt = 14400
    shipping_promise_s: PositiveInt = 172800
    shipping_alert_before_s: PositiveInt = 21600
    hold_team: Name = "review"  # owns a hold no tag explains (a partner refusing a step)
    shipping_team: Name = "warehouse"  # told when the shipping promise is about to break

    @model_validator(mode="after")
    def _ordered(self) -> Sla:
        found: list[tuple[tuple[str | int, ...], str]] = []
        if self.review_alert_s >= self.review_escalate_s:
            found.append((("review_alert_s",), "must be less than review_escalate_s"))
        if self.shipping_alert_before_s >= self.shipping_promise_s:
            found.append((("shipping_alert_before_s",), "must be less than shipping_promise_s"))
        if found:
            raise _problems("Sla", found)
        return self


class Health(_Strict):
    review_below: int = Field(default=80, ge=0, le=100)
    sync_delay_grace_s: int = Field(default=300, ge=0)
    sync_delay_penalty: int = Field(default=10, ge=0, le=100)
    sla_breach_penalty: int = Field(default=15, ge=0, le=100)
    retry_penalty: int = Field(default=5, ge=0, le=100)
    max_retry_penalty: int = Field(default=20, ge=0, le=100)


class Merge(_Strict):
    enabled: bool = True
    window_s: PositiveInt = 600


class Routing(_Strict):
    region_order: dict[str, list[str]]
    criteria: list[Criterion] = Field(default=["nearest", "stock", "fewest_packages"], min_length=1)
    merge: Merge = Merge()

    @model_validator(mode="after")
    def _known_regions(self) -> Routing:
        found: list[tuple[tuple[str | int, ...], str]] = []
        known = f"known: {', '.join(REGIONS)}"
        for region, order in self.region_order.items():
            if region not in REGIONS:
                found.append((("region_order", region), f"unknown region {region!r}; {known}"))
                continue
            if not order or order[0] != region:
                found.append((("region_order", region), f"the list must start with {region!r} itself"))
            for i, other in enumerate(order):
                if other not in REGIONS:
                    found.append((("region_order", region, i), f"unknown region {other!r}; {known}"))
                elif other in order[:i]:
                    found.append((("region_order", region, i), f"region {other!r} listed twice"))
        for region in REGIONS:
            if region not in self.region_order:
                found.append((("region_order",), f"missing region {region!r}"))
        for i, criterion in enumerate(self.criteria):
            if criterion in self.criteria[:i]:
                found.append((("criteria", i), f"criterion {criterion!r} listed twice"))
        if found:
            raise _problems("Routing", found)
        return self


class AfterSalesRules(_Strict):
    # Reason codes (lower case, as tickets carry them) for which a refund also pays back the order's
    # shipping fee: the seller's fault. A no-reason return does not get it back.
    shipping_refund_reasons: list[Word] = ["quality", "wrong_item", "damaged"]

    def refunds_shipping(self, reason: str) -> bool:
        return reason.lower() in {r.lower() for r in self.shipping_refund_reasons}


class Rules(_Strict):
    version: Literal[1]
    teams: dict[Name, Team] = Field(min_length=1)
    tags: dict[Name, TagRule]
    detect: Detect
    sla: Sla = Sla()
    health: Health = Health()
    routing: Routing
    # A presale order whose balance (尾款) is unpaid at its deadline is cancelled; its deposit (定金) is
    # kept (the usual practice, and the law's for a 定金 the payer walked away from) or refunded.
    presale_deposit_on_unpaid_balance: Literal["keep", "refund"] = "keep"
    after_sales: AfterSalesRules = AfterSalesRules()

    @model_validator(mode="after")
    def _references(self) -> Rules:
        """Names that point elsewhere in the file must exist there."""
        found: list[tuple[tuple[str | int, ...], str]] = []
        for name in REQUIRED_TAGS:
            if name not in self.tags:
                found.append((("tags",), f"missing required tag {name!r}"))
        for name, rule in self.tags.items():
            if rule.team not in self.teams:
                found.append((("tags", name, "team"), f"unknown team {rule.team!r}"))
        for key in ("hold_team", "shipping_team"):
            if getattr(self.sla, key) not in self.teams:
                found.append((("sla", key), f"unknown team {getattr(self.sla, key)!r}"))
        d = self.detect
        refs: list[tuple[tuple[str | int, ...], str]] = [(("detect", key, "tag"), getattr(d, key).tag)
                for key in ("address_keywords", "phone_format", "fraud", "dispute_words")]
        refs += [(("detect", "required_fields", i, "tag"), rf.tag) for i, rf in enumerate(d.required_fields)]
        found += [(loc, f"unknown tag {tag!r} (not in tags)") for loc, tag in refs if tag not in self.tags]
        if found:
            raise _problems("Rules", found)
        return self

    def tag(self, name: str) -> TagRule:
        try:
            return self.tags[name]
        except KeyError:
            raise KeyError(f"no tag {name!r} in the rules") from None

    def team(self, name: str) -> Team:
        try:
            return self.teams[name]
        except KeyError:
            raise KeyError(f"no team {name!r} in the rules") from None

    def hit(self, tag: str, reason: str) -> ExceptionHit:
        rule = self.tag(tag)
        return ExceptionHit(tag=tag, severity=rule.severity, team=rule.team, reason=reason)


class RulesError(ValueError):
    """A rules file that cannot be used. `line` is 1-based (None when the file could not be read);
    `reason` starts with the dotted key path. Further problems, if any, follow in `others`."""

    def __init__(self, source: str, line: int | None, reason: str,
                 others: tuple[tuple[int | None, str], ...] = ()) -> None:
        self.source, self.line, self.reason, self.others = source, line, reason, others
        super().__init__(str(self))

    def _at(self, line: int | None, reason: str) -> str:
        return f"{self.source}:{line}: {reason}" if line is not None else f"{self.source}: {reason}"

    def __str__(self) -> str:
        return "; ".join(self._at(line, reason) for line, reason in ((self.line, self.reason), *self.others))


def _dotted(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _line_of(root: yaml.Node, loc: tuple[str | int, ...]) -> int:
    """The 1-based line of the key (or list item) a pydantic loc points at; the nearest existing
    parent when the key is missing (a required key that was left out)."""
    node, line = root, root.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value
                         if isinstance(k, yaml.ScalarNode) and k.value == str(part)), None)
            if pair is None:
                break
            line, node = pair[0].start_mark.line + 1, pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _duplicate_keys(node: yaml.Node, path: tuple[str | int, ...] = ()) -> list[tuple[int, str]]:
    # YAML lets a repeated key silently replace the first: an operator adding a second fuzzy_address
    # block would lose the first without a word. Refuse it instead.
    found: list[tuple[int, str]] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else "?"
            if name in seen:
                found.append((key.start_mark.line + 1, f"{_dotted((*path, name))}: duplicate key"))
            seen.add(name)
            found += _duplicate_keys(value, (*path, name))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            found += _duplicate_keys(item, (*path, i))
    return found


def parse_rules(text: str, source: str = "<rules>") -> Rules:
    """Parse and validate a rules document; RulesError names the line and the key of each problem."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        problems = _duplicate_keys(root) if root is not None else []
        data = loader.construct_document(root) if root is not None and not problems else None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        what = ", ".join(p for p in (err.context, err.problem) if p)
        raise RulesError(source, mark.line + 1 if mark else None, f"YAML syntax: {what}") from None
    except yaml.YAMLError as err:
        raise RulesError(source, None, f"YAML syntax: {err}") from None
    finally:
        loader.dispose()
    if problems:
        raise RulesError(source, *problems[0], others=tuple(problems[1:]))
    if root is None or not isinstance(data, dict):
        raise RulesError(source, 1, "the rules file must be a YAML mapping (version, teams, tags, ...)")
    try:
        return Rules.model_validate(data)
    except ValidationError as err:
        found = [(_line_of(root, e["loc"]), f"{_dotted(e['loc'])}: {e['msg']}" if e["loc"] else e["msg"])
                 for e in err.errors(include_url=False)]
        raise RulesError(source, *found[0], others=tuple(found[1:])) from None


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise RulesError(str(path), None, f"cannot read the rules file: {err.strerror or err}") from None


def _decode(raw: bytes, source: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RulesError(source, None, "the rules file is not UTF-8") from None


def load_rules(path: Path) -> Rules:
    path = Path(path)
    return parse_rules(_decode(_read(path), str(path)), str(path))


class RulesStore:
    """The rules a process runs on. Loads at construction (a bad file stops the process from
    starting); afterwards a changed file is picked up by `.current`, at most one stat per
    `check_interval_s`, and a bad change is refused: the running rules stay, the error is kept in
    `last_error` and logged as `rules.rejected`."""

    def __init__(self, path: Path, *, check_interval_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path = Path(path)
        self.source = str(self.path)
        self.check_interval_s = check_interval_s
        self._clock = clock
        self.last_error: RulesError | None = None
        self._checked_at = clock()
        self._stamp = self._stat()
        self._apply(self._parse())

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def _parse(self) -> tuple[Rules, bytes]:
        raw = _read(self.path)
        return parse_rules(_decode(raw, self.source), self.source), raw

    def _apply(self, loaded: tuple[Rules, bytes]) -> Rules:
        self._rules, raw = loaded
        self.version_hash = hashlib.sha256(raw).hexdigest()[:12]
        self.loaded_at = datetime.now(UTC)
        self.last_error = None
        log.info("rules.loaded", source=self.source, version_hash=self.version_hash)
        return self._rules

    @property
    def current(self) -> Rules:
        now = self._clock()
        if now - self._checked_at >= self.check_interval_s:
            self._checked_at = now
            if self._stat() != self._stamp:
                try:
                    self.reload()
                except RulesError:
                    pass  # recorded and logged by reload; keep serving the running rules
        return self._rules

    def reload(self) -> Rules:
        """Load the file now. A bad file raises RulesError and leaves the running rules in place."""
        # Stamp before reading: a write landing in between is then seen as a further change.
        self._stamp = self._stat()
        try:
            loaded = self._parse()
        except RulesError as err:
            self.last_error = err
            log.warning("rules.rejected", source=err.source, line=err.line, reason=err.reason)
            raise
        return self._apply(loaded)


_shared: dict[Path, RulesStore] = {}


def shared_rules(path: Path) -> RulesStore:
    """One store per rules file in this process (the API's routes, the intake's order policy and the
    worker's activities all see the same rules, reloaded together)."""
    key = Path(path).resolve()
    if key not in _shared:
        _shared[key] = RulesStore(key)
    return _shared[key]
