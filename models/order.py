"""The unified order model: what every channel's order is mapped into.

Money is integer fen. These models travel through Temporal (pydantic data converter), so
fields are only ever added with defaults, never renamed.

`Order` is the hub's own order (the OrderWorkflow's input, recorded in its history): it ignores keys it
does not know, so a history written before a field went away still replays. `OrderIn` is the same order
as a caller posts it (POST /v1/orders): it refuses unknown keys and has no internal field (`replaces`).
Numbers and flags are strict in both: 2, not "2" or true; a JSON-born payload always satisfies that.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from models.money import apportion, split_paid

Channel = Literal["taobao", "jd", "pinduoduo", "douyin", "shopify", "own_store"]
CHANNELS: tuple[Channel, ...] = ("taobao", "jd", "pinduoduo", "douyin", "shopify", "own_store")


def as_channel(name: str) -> Channel:
    """A channel name carried as a plain str (a table column, a model field typed str) as a Channel;
    ValueError for any other name, as a model with a Channel field would refuse it."""
    for channel in CHANNELS:
        if channel == name:
            return channel
    raise ValueError(f"unknown channel {name!r}")


# Ids go into workflow ids and URLs: keep them to a safe alphabet (letters, digits, '_', '.', '-').
ExternalId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]
ShopName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]
SkuCode = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]

# Bounds at the edge, so nothing accepted can fail a later step for ever. Amounts are stored in
# 32-bit integer columns (PostgreSQL `integer`: at most 2,147,483,647 fen): every amount, and an
# order's goods plus shipping, is at most MAX_FEN (20 million yuan).
MAX_FEN = 2_000_000_000
MAX_QUANTITY = 10_000  # units of one sku on one line
MAX_LINES = 200

# An order's id is "{channel}:{shop}:{external_id}", e.g. "jd:default:T-1001": the same external id in
# two shops of one channel is two orders. ':' is in none of the three alphabets (a channel is
# lowercase letters and '_'), so the id splits back unambiguously, and a URL path or a workflow id
# takes it as it is. At most MAX_ORDER_ID characters, the width of the order_id columns; the ids
# derived from it (workflow, shipment and ticket ids) fit theirs.
ORDER_ID_SEPARATOR = ":"
MAX_ORDER_ID = 100
# An order id as a caller names one (e.g. a ticket's order).
OrderId = Annotated[str, Field(min_length=5, max_length=MAX_ORDER_ID,
                               pattern=r"^[a-z_]+:[A-Za-z0-9][A-Za-z0-9_.\-]*:[A-Za-z0-9][A-Za-z0-9_.\-]*$",
                               description="{channel}:{shop}:{external_id}")]


class OrderStatus(StrEnum):
    RECEIVED = "RECEIVED"
    ON_HOLD = "ON_HOLD"
    AWAITING_PAYMENT = "AWAITING_PAYMENT"
    FULFILLING = "FULFILLING"  # paid and stocked: routing and printing the waybill
    AWAITING_SCAN = "AWAITING_SCAN"  # waybill printed, parcel not yet scanned out
    SHIPPED = "SHIPPED"
    DELIVERED = "DELIVERED"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"


# Once goods have left a warehouse an order can no longer be cancelled (that is after-sales).
SHIPPED_OR_LATER = frozenset(
    {OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.COMPLETED}
)
FINAL_STATUSES = frozenset({OrderStatus.COMPLETED, OrderStatus.CANCELLED})


class PriorityTag(StrEnum):
    VIP = "vip"
    URGENT = "urgent"
    PRESALE = "presale"


class Buyer(BaseModel):
    """Receiver details. Personal data: kept in the database, never in ids, search attributes or logs."""

    model_config = ConfigDict(str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=64)
    phone: str = Field(min_length=5, max_length=32)
    province: str = Field(min_length=1, max_length=32)
    city: str = Field(min_length=1, max_length=32)
    district: str = Field(default="", max_length=32)
    address: str = Field(min_length=1, max_length=256)
    zip: str | None = Field(default=None, max_length=16)


class OrderLine(BaseModel):
    sku: SkuCode
    quantity: StrictInt = Field(gt=0, le=MAX_QUANTITY)
    unit_price: StrictInt = Field(ge=0, le=MAX_FEN, description="fen")
    paid_amount: StrictInt | None = Field(default=None, ge=0, le=MAX_FEN,
                                    description="fen: the line's share of what the buyer paid, as the channel "
                                                "computed it (Taobao divide_order_fee); None: the hub apportions it")


class PresalePlan(BaseModel):
    """A presale order paid in two parts (定金 + 尾款): the deposit secures the order and its stock, the
    balance is due by `balance_due_by`; only a paid balance lets the order ship. A balance left unpaid
    at its deadline cancels the order, and the deposit is kept or refunded as the rules file says
    (`presale_deposit_on_unpaid_balance`)."""

    deposit: StrictInt = Field(gt=0, le=MAX_FEN, description="fen: the deposit (定金), paid first")
    balance: StrictInt = Field(gt=0, le=MAX_FEN, description="fen: the balance (尾款), due by balance_due_by")
    balance_due_by: datetime = Field(description="the balance's deadline, with its time zone")
    deposit_paid: StrictBool = Field(default=False, description="the channel delivers the order with its deposit paid")
    deposit_trade_no: str | None = Field(default=None, max_length=64, description="the deposit's payment trade number")

    @field_validator("balance_due_by")
    @classmethod
    def _zoned(cls, due_by: datetime) -> datetime:
        if due_by.tzinfo is None:
            raise ValueError("balance_due_by needs a time zone, e.g. 2026-11-10T23:59:59+08:00")
        return due_by


class OrderFields(BaseModel):
    """What an order is, as a channel delivers it after mapping: the fields and checks `Order` (the
    hub's) and `OrderIn` (a caller's) share."""

    model_config = ConfigDict(str_strip_whitespace=True)

    channel: Channel
    shop: ShopName = "default"
    external_id: ExternalId
    paid: StrictBool = False
    trade_no: str | None = Field(default=None, max_length=64, description="payment trade number, for refunds")
    buyer: Buyer
    lines: list[OrderLine] = Field(min_length=1, max_length=MAX_LINES)
    shipping_fee: StrictInt = Field(default=0, ge=0, le=MAX_FEN, description="fen")
    discount: StrictInt = Field(default=0, ge=0, le=MAX_FEN, description="fen")
    priority_tags: list[PriorityTag] = Field(default_factory=list)
    ship_not_before: datetime | None = None
    buyer_message: str | None = Field(default=None, max_length=500)
    # Who placed it, for the fraud heuristics: the platform's buyer account and the device. Stored
    # only as hashes; never in ids, search attributes or logs.
    buyer_id: str | None = Field(default=None, max_length=128)
    device_id: str | None = Field(default=None, max_length=128)
    placed_at: datetime | None = Field(default=None, description="when the buyer placed it on the channel")
    presale: PresalePlan | None = Field(default=None, description="deposit and balance: paid in two parts")

    @field_validator("external_id")
    @classmethod
    def _order_id_fits(cls, external_id: str, info: ValidationInfo) -> str:
        channel, shop = info.data.get("channel"), info.data.get("shop")  # absent when refused themselves
        if channel and shop and len(order_id := order_id_for(channel, shop, external_id)) > MAX_ORDER_ID:
            raise ValueError(f"with its channel and shop the order id {order_id} is {len(order_id)} characters; "
                             f"at most {MAX_ORDER_ID}")
        return external_id

    @field_validator("lines")
    @classmethod
    def _one_line_per_sku(cls, lines: list[OrderLine]) -> list[OrderLine]:
        seen: set[str] = set()
        for line in lines:
            if line.sku in seen:
                raise ValueError(f"sku {line.sku} appears on more than one line; merge the quantities")
            seen.add(line.sku)
        if (goods := goods_amount_of(lines)) > MAX_FEN:
            raise ValueError(f"the lines come to {goods} fen; an order comes to at most {MAX_FEN} fen")
        return lines

    @field_validator("shipping_fee")
    @classmethod
    def _order_amount_within_bounds(cls, shipping_fee: int, info: ValidationInfo) -> int:
        lines = info.data.get("lines")  # absent when the lines themselves were refused
        if lines is not None and goods_amount_of(lines) + shipping_fee > MAX_FEN:
            raise ValueError(f"goods and shipping come to {goods_amount_of(lines) + shipping_fee} fen; "
                             f"an order comes to at most {MAX_FEN} fen")
        return shipping_fee

    @field_validator("presale")
    @classmethod
    def _parts_make_the_total(cls, plan: PresalePlan | None, info: ValidationInfo) -> PresalePlan | None:
        lines = info.data.get("lines")  # absent (like the other amounts) when refused themselves
        if plan is None or lines is None or "shipping_fee" not in info.data or "discount" not in info.data:
            return plan
        total = goods_amount_of(lines) + info.data["shipping_fee"] - info.data["discount"]
        if plan.deposit + plan.balance != total:
            raise ValueError(f"deposit {plan.deposit} + balance {plan.balance} fen must make the order's "
                             f"total of {total} fen")
        return plan

    @model_validator(mode="after")
    def _presale_has_its_date(self) -> OrderFields:
        if PriorityTag.PRESALE in self.priority_tags and self.ship_not_before is None:
            raise ValueError("a presale order needs ship_not_before, the date it may ship from")
        if self.ship_not_before is not None and self.ship_not_before.tzinfo is None:
            raise ValueError("ship_not_before needs a time zone, e.g. 2026-11-11T00:00:00+08:00")
        return self

    @model_validator(mode="after")
    def _discount_within_total(self) -> OrderFields:
        if self.discount > self.goods_amount + self.shipping_fee:
            raise ValueError("discount exceeds the order amount")
        return self

    @property
    def order_id(self) -> str:
        return order_id_for(self.channel, self.shop, self.external_id)

    @property
    def goods_amount(self) -> int:
        return goods_amount_of(self.lines)

    @property
    def total_amount(self) -> int:
        return self.goods_amount + self.shipping_fee - self.discount

    @property
    def paid_split(self) -> tuple[int, int]:
        """(paid for the goods, paid for shipping): the discount comes off the goods first."""
        return split_paid(self.goods_amount, self.shipping_fee, self.discount)

    def line_shares(self) -> list[int]:
        """Each line's share of what was paid for the goods, in line order, adding up to it exactly: the
        channel's own shares when it gave one for every line and they add up, else apportioned by list
        price (`models.money.apportion`)."""
        return line_shares(self.lines, self.paid_split[0])

    @property
    def priority(self) -> str:
        """The single keyword operators filter on: the most urgent tag wins."""
        for tag in (PriorityTag.URGENT, PriorityTag.VIP, PriorityTag.PRESALE):
            if tag in self.priority_tags:
                return tag.value
        return "normal"


class Order(OrderFields):
    """The hub's order: what OrderWorkflow runs. Built by the channel mappers, the exchange's
    replacement and `OrderIn.to_order`; the fields only the hub sets are here."""

    replaces: str | None = Field(default=None, max_length=100,
                                 description="an exchange's outbound order: the order it replaces (not on the channel)")


class BuyerIn(Buyer):
    """A receiver as a caller sends it: unknown keys refused."""

    model_config = ConfigDict(extra="forbid")


class OrderLineIn(OrderLine):
    model_config = ConfigDict(extra="forbid")


class PresalePlanIn(PresalePlan):
    model_config = ConfigDict(extra="forbid")


class OrderIn(OrderFields):
    """POST /v1/orders: an order as a caller sends it. A key it does not know, an internal field
    (`replaces`) among them, is refused (422 naming it), never silently dropped."""

    model_config = ConfigDict(extra="forbid")

    buyer: BuyerIn
    # Narrower items than OrderFields' (an OrderLineIn is an OrderLine, so the shared checks hold); mypy
    # refuses it only because a list is invariant.
    lines: list[OrderLineIn] = Field(min_length=1, max_length=MAX_LINES)  # type: ignore[assignment]
    presale: PresalePlanIn | None = Field(default=None, description="deposit and balance: paid in two parts")

    def to_order(self) -> Order:
        """The hub's order, checked again as one (plain Buyer, OrderLine, PresalePlan inside)."""
        return Order.model_validate(self.model_dump())


def line_shares(lines: list[OrderLine], goods_paid: int) -> list[int]:
    given = [line.paid_amount for line in lines]
    if all(share is not None for share in given) and sum(s for s in given if s is not None) == goods_paid:
        return [s for s in given if s is not None]
    return apportion(goods_paid, [line.quantity * line.unit_price for line in lines])


def goods_amount_of(lines: list[OrderLine]) -> int:
    return sum(line.quantity * line.unit_price for line in lines)


def order_id_for(channel: str, shop: str, external_id: str) -> str:
    return ORDER_ID_SEPARATOR.join((channel, shop, external_id))


def external_id_room(channel: str, shop: str) -> int:
    """How long an external id of this channel and shop may be, for the order id to fit MAX_ORDER_ID."""
    return MAX_ORDER_ID - len(order_id_for(channel, shop, ""))


def workflow_id_for(order_id: str) -> str:
    return f"order-{order_id}"
