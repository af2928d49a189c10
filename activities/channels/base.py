"""What every channel adapter shares: the platform-side state, the mapping error, the mapped result,
the adapter interface, and the small field-reading mechanisms all six adapters use.

An adapter is a pure translator: platform payload in, unified `Order` out (and the platform's own
parameter names for ship-back and stock push). It does no I/O; the transport
(`activities.channels.transport`) will carry what the adapters produce.

Field-reading rule for every adapter: a key that is absent, null or "" is *missing*. A missing or
malformed required field raises `MappingError` naming the field by the platform's own dotted path
(`orders.order[1].outer_sku_id`, `consigneeInfo.mobile`), never the unified model's name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, ClassVar, Literal, overload

from pydantic import BaseModel, ValidationError

from models.channel import AwareUtc, PlatformAfterSale, PlatformAfterSaleLine, PlatformRequestStatus, RefundOutcome
from models.money import yuan_to_fen
from models.order import CHANNELS, Buyer, Order, OrderLine

# Mainland China has one fixed offset and no daylight saving: the Chinese platforms' naive
# "YYYY-MM-DD HH:MM:SS" timestamps are Beijing time.
CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")


class ChannelState(StrEnum):
    """The platform-side state of an order, as the hub needs to know it."""

    AWAITING_PAYMENT = "AWAITING_PAYMENT"
    PAID = "PAID"  # paid, awaiting shipment
    PARTLY_SHIPPED = "PARTLY_SHIPPED"
    SHIPPED = "SHIPPED"
    DELIVERED = "DELIVERED"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"
    REFUNDING = "REFUNDING"  # an after-sale / refund is open
    REFUNDED = "REFUNDED"


# States in which the buyer has certainly paid. CANCELLED is deliberately absent: an order can be
# closed before or after payment, so adapters decide that case from the platform's payment evidence.
PAID_STATES = frozenset(
    {
        ChannelState.PAID,
        ChannelState.PARTLY_SHIPPED,
        ChannelState.SHIPPED,
        ChannelState.DELIVERED,
        ChannelState.COMPLETED,
        ChannelState.REFUNDING,
        ChannelState.REFUNDED,
    }
)


def paid_flag(state: ChannelState, payment_evidence: bool) -> bool:
    """`Order.paid`: true in every paid state; a cancelled order only if the platform shows a payment."""
    return state in PAID_STATES or (state is ChannelState.CANCELLED and payment_evidence)


class MappingError(ValueError):
    """A payload the adapter cannot map. `field` is the platform's dotted path, e.g. `orders[0].num`."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")

    def __reduce__(self):  # picklable with its two arguments (Temporal/multiprocessing safety)
        return (type(self), (self.field, self.reason))


class ChannelOrder(BaseModel):
    """One mapped platform order: the unified order plus what the hub tracks about the platform side."""

    order: Order
    state: ChannelState
    modified_at: AwareUtc
    raw_status: str  # the platform's own status value(s), for the timeline


# --- reading platform payloads ---------------------------------------------------------------------

_MISSING = object()


@dataclass(frozen=True)
class Found:
    """A value read from a payload together with the platform path it came from."""

    path: str
    value: Any


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


class Fields:
    """A read-only view of one JSON object that knows its own path, so every error names its field.

    All readers take one or more keys and use the first one present ("mobile preferred, else phone").
    A required field that is missing raises `MappingError(<path of the first key>, "missing")`.
    """

    def __init__(self, data: Any, path: str = "") -> None:
        if not isinstance(data, Mapping):
            raise MappingError(path or "payload", f"expected an object, got {type(data).__name__}")
        self.data = data
        self.path = path

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    # -- generic ---------------------------------------------------------------------------------
    # `required=True` (the default) either finds the field or raises, so it never returns None.
    @overload
    def first(self, *keys: str, required: Literal[True] = ...) -> Found: ...
    @overload
    def first(self, *keys: str, required: bool) -> Found | None: ...
    def first(self, *keys: str, required: bool = True) -> Found | None:
        for key in keys:
            value = self.data.get(key)
            if not _is_missing(value):
                return Found(self.at(key), value)
        if required:
            also = f" (also looked for {', '.join(keys[1:])})" if len(keys) > 1 else ""
            raise MappingError(self.at(keys[0]), f"missing{also}")
        return None

    def raw(self, *keys: str, default: Any = None) -> Any:
        """The first present value, or `default`; never raises."""
        found = self.first(*keys, required=False)
        return default if found is None else found.value

    @overload
    def text(self, *keys: str, required: Literal[True] = ...) -> Found: ...
    @overload
    def text(self, *keys: str, required: bool) -> Found | None: ...
    def text(self, *keys: str, required: bool = True) -> Found | None:
        found = self.first(*keys, required=required)
        if found is None:
            return None
        value = found.value
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise MappingError(found.path, f"expected text, got {type(value).__name__}")
        return Found(found.path, str(value).strip())

    @overload
    def obj(self, key: str, *, required: Literal[True] = ...) -> Fields: ...
    @overload
    def obj(self, key: str, *, required: bool) -> Fields | None: ...
    def obj(self, key: str, *, required: bool = True) -> Fields | None:
        found = self.first(key, required=required)
        return None if found is None else Fields(found.value, found.path)

    def items(self, key: str, *, wrapper: str | None = None) -> list[Fields]:
        """A required non-empty list of objects. `wrapper` accepts TOP's XML-style `{"orders": {"order": [...]}}`
        as well as a plain list; the path names the shape actually received."""
        found = self.first(key)
        value, path = found.value, found.path
        if wrapper is not None and isinstance(value, Mapping):
            if wrapper not in value:
                raise MappingError(f"{path}.{wrapper}", "missing")
            value, path = value[wrapper], f"{path}.{wrapper}"
        if not isinstance(value, list):
            raise MappingError(path, f"expected a list, got {type(value).__name__}")
        if not value:
            raise MappingError(path, "empty")
        return [Fields(item, f"{path}[{i}]") for i, item in enumerate(value)]

    # -- typed -----------------------------------------------------------------------------------
    def yuan(self, *keys: str, required: bool = False) -> int:
        """A yuan amount (decimal string or JSON number) as integer fen; an absent optional amount is 0."""
        found = self.first(*keys, required=required)
        return 0 if found is None else yuan_field(found)

    def fen(self, *keys: str, required: bool = False) -> int:
        """An amount the platform already sends as integer fen; an absent optional amount is 0."""
        found = self.first(*keys, required=required)
        return 0 if found is None else fen_field(found)

    def count(self, *keys: str) -> int:
        found = self.first(*keys)
        return count_field(found)

    @overload
    def time(self, *keys: str, required: Literal[True] = ..., naive_tz: timezone | None = ...) -> datetime: ...
    @overload
    def time(self, *keys: str, required: bool, naive_tz: timezone | None = ...) -> datetime | None: ...
    def time(self, *keys: str, required: bool = True, naive_tz: timezone | None = CHINA_TZ) -> datetime | None:
        found = self.first(*keys, required=required)
        return None if found is None else time_field(found, naive_tz=naive_tz)


def yuan_field(found: Found) -> int:
    """"19.90" -> 1990 with the field named in the error. Negative amounts and fractions of a fen are
    refused: both mean the value is not what the adapter thinks it is (e.g. a unit mix-up)."""
    value = found.value
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise MappingError(found.path, f"not a money amount: {value!r}")
    try:
        fen = yuan_to_fen(value)
        exact = Decimal(str(value).strip()) * 100
    except (ValueError, InvalidOperation):
        raise MappingError(found.path, f"not a money amount: {value!r}") from None
    if exact != fen:
        raise MappingError(found.path, f"fractions of a fen: {value!r}")
    if fen < 0:
        raise MappingError(found.path, f"negative amount: {value!r}")
    return fen


def fen_field(found: Found) -> int:
    value = found.value
    if isinstance(value, bool):
        raise MappingError(found.path, f"not an amount in fen: {value!r}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int):
        raise MappingError(found.path, f"not an amount in fen: {value!r}")
    if value < 0:
        raise MappingError(found.path, f"negative amount: {value!r}")
    return value


def count_field(found: Found) -> int:
    value = found.value
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise MappingError(found.path, f"not a whole quantity: {value!r}")
    if value <= 0:
        raise MappingError(found.path, f"quantity must be positive: {value!r}")
    return value


def time_field(found: Found, *, naive_tz: timezone | None) -> datetime:
    """Epoch seconds (int or digit string) or ISO-8601 / "YYYY-MM-DD HH:MM:SS" text -> aware UTC.
    Naive text is read in `naive_tz`; with `naive_tz=None` it is refused."""
    value = found.value
    epoch = not isinstance(value, bool) and (
        isinstance(value, (int, float)) or (isinstance(value, str) and value.strip().isdigit())
    )
    if not epoch and not isinstance(value, str):
        raise MappingError(found.path, f"not a time: {value!r}")
    try:
        if epoch:
            return datetime.fromtimestamp(int(value), UTC)
        parsed = datetime.fromisoformat(value.strip())  # 3.11: "Z", offsets and "YYYY-MM-DD HH:MM:SS"
    except (ValueError, OverflowError, OSError):
        raise MappingError(found.path, f"not a time: {value!r}") from None
    if parsed.tzinfo is None:
        if naive_tz is None:
            raise MappingError(found.path, f"time without a timezone: {value!r}")
        parsed = parsed.replace(tzinfo=naive_tz)
    return parsed.astimezone(UTC)


def lookup(table: Mapping[Any, Any], found: Found) -> Any:
    """An explicit status table lookup; JSON may carry numeric codes as strings ("105")."""
    value = found.value
    if isinstance(value, (bool, dict, list)):  # not a status value (and a dict or list cannot be looked up)
        raise MappingError(found.path, f"unknown value {value!r:.100}")
    if value in table:
        return table[value]
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() and int(value) in table:
        return table[int(value)]
    raise MappingError(found.path, f"unknown value {value}")


def with_refunds(state: ChannelState, line_refunds: Iterable[ChannelState | None]) -> ChannelState:
    """Overlay line-level after-sale states on the order state.

    `line_refunds` holds per line None (no open refund), REFUNDING (open) or REFUNDED (done).
    A closed/cancelled or unpaid order keeps its state; every line refunded -> REFUNDED; any open or
    partial refund -> REFUNDING (the hub must look at the after-sale before shipping or closing).
    """
    refunds = list(line_refunds)
    if state in (ChannelState.CANCELLED, ChannelState.AWAITING_PAYMENT) or all(r is None for r in refunds):
        return state
    if all(r is ChannelState.REFUNDED for r in refunds):
        return ChannelState.REFUNDED
    return ChannelState.REFUNDING


# --- assembling the unified order ------------------------------------------------------------------


def build_model(model: type[BaseModel], fields: Mapping[str, Found | Any], *, where: str) -> Any:
    """Validate `model` from values read off the payload; a validation error names the platform field
    the offending value came from (or `where` when the error is about the whole object)."""
    data = {key: (value.value if isinstance(value, Found) else value) for key, value in fields.items()}
    try:
        return model.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        loc = tuple(first.get("loc") or ())
        source = fields.get(loc[0]) if loc and isinstance(loc[0], str) else None
        if isinstance(source, Found):
            head = source.path
        elif loc:
            head = f"{where}.{loc[0]}" if where else str(loc[0])
        else:
            head = where or "order"
        raise MappingError(head + loc_suffix(loc[1:]), first.get("msg", "invalid")) from None


def loc_suffix(loc: Iterable[Any]) -> str:
    """A pydantic error location below the top-level key, as a dotted path: (0, "sku") -> "[0].sku"."""
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)


@dataclass
class LineDraft:
    sku: Found
    quantity: int
    unit_price: int
    path: str  # the line's own path, e.g. orders.order[1]
    paid_amount: int | None = None  # the line's share of what was paid, where the platform gives it (fen)


def build_lines(drafts: list[LineDraft]) -> list[OrderLine]:
    """One `OrderLine` per sku. The same sku on two platform lines at the same unit price (e.g. two
    promotions on one product) is merged, their paid shares added (unknown if either is); at different
    prices it cannot be one line and is refused."""
    merged: dict[str, tuple[LineDraft, int, int | None]] = {}
    for draft in drafts:
        line = build_model(OrderLine, {"sku": draft.sku, "quantity": draft.quantity, "unit_price": draft.unit_price,
                                       "paid_amount": draft.paid_amount}, where=draft.path)
        if line.sku in merged:
            first, quantity, paid = merged[line.sku]
            if first.unit_price != line.unit_price:
                raise MappingError(draft.sku.path, f"sku {line.sku} repeats {first.path} at a different unit price")
            both = None if paid is None or line.paid_amount is None else paid + line.paid_amount
            merged[line.sku] = (first, quantity + line.quantity, both)
        else:
            merged[line.sku] = (draft, line.quantity, line.paid_amount)
    return [OrderLine(sku=s, quantity=q, unit_price=d.unit_price, paid_amount=p) for s, (d, q, p) in merged.items()]


def optional_yuan(f: Fields, key: str) -> int | None:
    """A yuan amount the platform may leave out (None then, not 0: "unknown" is not "nothing paid")."""
    found = f.first(key, required=False)
    return None if found is None else yuan_field(found)


def optional_fen(f: Fields, key: str) -> int | None:
    found = f.first(key, required=False)
    return None if found is None else fen_field(found)


@dataclass
class OrderDraft:
    """Everything an adapter reads off a payload, each value with its platform path."""

    external_id: Found
    buyer: dict[str, Found | Any]  # Buyer field name -> value read
    lines: list[LineDraft]
    modified_at: datetime
    raw_status: str
    payment_evidence: bool = False  # a pay time or similar: decides `paid` for a cancelled order
    shipping_fee: int = 0
    discount: int = 0
    discount_path: str = "discount"
    buyer_message: Found | None = None
    placed_at: datetime | None = None
    trade_no: Found | None = None


@dataclass
class AfterSaleDraft:
    """What an adapter reads off one after-sales request, each value with its platform path."""

    request_id: Found
    external_id: Found
    type: str  # refund_only | return_and_refund, through the platform's type table
    reason: str  # the hub's reason code, through the platform's reason table
    amount: int | None  # fen; None when the platform names no amount
    lines: list[tuple[Found, int, str]] | None  # (sku, quantity, the line's path); None: the whole order
    status: PlatformRequestStatus
    raw_status: str
    modified_at: datetime


def reason_code(table: Mapping[str, str], found: Found | None) -> str:
    """The platform's reason text (or code) -> the hub's reason code; one it does not know is `other`
    (the reason only steers rules, so an unknown one must not stop the request)."""
    if found is None:
        return "other"
    return table.get(str(found.value).strip(), "other")


def derived_discount(goods: int, shipping: int, paid_amount: Found) -> int:
    """For platforms that give only what the buyer paid (Pinduoduo, Douyin `pay_amount`): the discount is
    what makes goods + shipping - discount equal the payment. Paying more than that cannot be mapped."""
    amount = paid_amount.value
    if amount > goods + shipping:
        raise MappingError(paid_amount.path, f"{amount} fen exceeds goods {goods} + shipping {shipping}")
    return goods + shipping - amount


# --- the adapter interface -------------------------------------------------------------------------


class ChannelAdapter(ABC):
    """One sales platform. Subclasses are stateless singletons registered in `activities.channels.ADAPTERS`."""

    channel: ClassVar[str]  # one of models.order.CHANNELS
    max_window: ClassVar[timedelta | None]  # longest modified-time window one pull may ask for
    pushes_webhooks: ClassVar[bool]  # True: the platform pushes order events; pull is reconciliation
    # The HTTP wire (`activities.channels.wire.Wire`): paths, parameter names, response roots, paging.
    wire: ClassVar[Any]
    # The hub's carrier codes (SF, ZTO, YTO, JD, EMS) -> the platform's logistics company codes.
    carrier_codes: ClassVar[Mapping[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        channel = getattr(cls, "channel", None)
        if channel is not None and channel not in CHANNELS:
            raise TypeError(f"{cls.__name__}.channel {channel!r} is not one of {CHANNELS}")

    # -- mapping ---------------------------------------------------------------------------------
    def map_order(self, payload: dict[str, Any], *, shop: str) -> ChannelOrder:
        """Payload -> ChannelOrder, or MappingError naming the platform field."""
        fields = Fields(payload)
        state = self.map_state(payload)
        draft = self.read_order(fields)
        return self.assemble(draft, state, shop=shop)

    @abstractmethod
    def map_state(self, payload: dict[str, Any]) -> ChannelState:
        """The platform status value(s) -> ChannelState, by an explicit table; unknown values raise."""

    @abstractmethod
    def read_order(self, f: Fields) -> OrderDraft:
        """Read the platform's fields (with paths) for `assemble`."""

    def assemble(self, draft: OrderDraft, state: ChannelState, *, shop: str) -> ChannelOrder:
        buyer = build_model(Buyer, draft.buyer, where="receiver")
        lines = build_lines(draft.lines)
        order = build_model(
            Order,
            {
                "channel": self.channel,
                "shop": Found("shop", shop),
                "external_id": draft.external_id,
                "paid": paid_flag(state, draft.payment_evidence),
                "trade_no": draft.trade_no,
                "buyer": buyer,
                "lines": Found(draft.lines[0].path.rsplit("[", 1)[0], lines),
                "shipping_fee": draft.shipping_fee,
                "discount": Found(draft.discount_path, draft.discount),
                "buyer_message": draft.buyer_message,
                "placed_at": draft.placed_at,
            },
            where="order",
        )
        return ChannelOrder(order=order, state=state, modified_at=draft.modified_at, raw_status=draft.raw_status)

    # -- after-sales requests the buyer opened on the platform -------------------------------------
    def map_after_sale(self, payload: dict[str, Any], *, shop: str) -> PlatformAfterSale:
        """One item of the platform's after-sales list -> PlatformAfterSale, or MappingError naming the field.
        Platforms without such requests (the own store) raise MappingError."""
        raise MappingError("payload", f"{self.channel} has no after-sales requests")

    def assemble_after_sale(self, draft: AfterSaleDraft, *, shop: str) -> PlatformAfterSale:
        lines = None if draft.lines is None else [
            build_model(PlatformAfterSaleLine, {"sku": sku, "quantity": quantity}, where=path)
            for sku, quantity, path in draft.lines]
        return build_model(PlatformAfterSale, {
            "request_id": draft.request_id, "channel": self.channel, "shop": Found("shop", shop),
            "external_id": draft.external_id, "type": draft.type, "reason": draft.reason, "amount": draft.amount,
            "lines": lines, "status": draft.status, "raw_status": draft.raw_status,
            "modified_at": draft.modified_at}, where="after_sale")

    # -- outbound calls (parameters only; the transport sends them) ------------------------------
    def carrier_code(self, carrier: str) -> str:
        """The platform's code for one of the hub's carriers; KeyError for a carrier it does not know."""
        try:
            return self.carrier_codes[carrier]
        except KeyError:
            raise KeyError(f"{self.channel} has no code for carrier {carrier!r}") from None

    def sign(self, params: dict[str, str], secret: str) -> str:
        """The request signature, for platforms that sign request parameters."""
        raise NotImplementedError(f"{self.channel} does not sign request parameters")

    @abstractmethod
    def shipback_params(self, external_id: str, waybill_no: str, carrier: str, *, is_split: bool) -> dict[str, Any]:
        """The platform's ship-back call with its own field names. `carrier` is already the platform's
        carrier/company code (translating the hub's carrier to each platform's code list is the caller's)."""

    @abstractmethod
    def stock_params(self, outer_sku_id: str, quantity: int) -> dict[str, Any]:
        """The platform's stock push (absolute quantity) with its own field names."""

    @abstractmethod
    def refund_params(self, external_id: str, refund_id: str, amount: int, *, status: RefundOutcome,
                      reason: str) -> dict[str, Any] | None:
        """The platform's after-sales refund answer (made or refused) with its own field names. `amount` is
        integer fen (converted to the platform's unit here); `refund_id` is the hub's after-sales ticket id.
        None: the platform has nothing to be told (Shopify has no refund request to decline)."""

    # -- errors ----------------------------------------------------------------------------------
    @abstractmethod
    def is_auth_error(self, error: dict[str, Any]) -> bool:
        """The shop's token expired or was revoked: re-authorise, retrying will not help."""

    @abstractmethod
    def is_rate_limited(self, error: dict[str, Any]) -> bool:
        """The platform throttled us: back off and retry."""


def check_stock_quantity(quantity: int) -> int:
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
        raise ValueError(f"stock quantity must be a whole number >= 0, got {quantity!r}")
    return quantity


REFUND_OUTCOMES: frozenset[str] = frozenset({"REFUNDED", "REJECTED"})


def check_refund(refund_id: str, amount: int, status: str) -> None:
    if not isinstance(refund_id, str) or not refund_id.strip():
        raise ValueError("refund_id must be a non-empty ticket id")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise ValueError(f"refund amount must be whole fen >= 0, got {amount!r}")
    if status not in REFUND_OUTCOMES:
        raise ValueError(f"refund status must be one of {sorted(REFUND_OUTCOMES)}, got {status!r}")


def error_body(error: Mapping[str, Any], root: str = "error_response") -> Mapping[str, Any]:
    """Platform errors arrive either wrapped (`{"error_response": {...}}`) or already unwrapped."""
    inner = error.get(root) if isinstance(error, Mapping) else None
    return inner if isinstance(inner, Mapping) else (error if isinstance(error, Mapping) else {})


def code_in(body: Mapping[str, Any], key: str, codes: Iterable[str | int]) -> bool:
    """Compare an error code as text: platforms send the same code as 27 or "27"."""
    value = body.get(key)
    return value is not None and not isinstance(value, bool) and str(value).strip() in {str(c) for c in codes}


def http_status(error: Mapping[str, Any]) -> int | None:
    """For HTTP-status platforms (Shopify, own store) the transport hands over `{"status": <code>, **body}`."""
    status = error.get("status") if isinstance(error, Mapping) else None
    if isinstance(status, bool):
        return None
    try:
        return int(status) if status is not None else None
    except (TypeError, ValueError):
        return None
