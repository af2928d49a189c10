"""What the sandbox marketplaces share: shops with their credentials, orders in a platform-neutral
form, effects (ship-back, stock, after-sales refunds) recorded in the RecordStore, per-app rate limits,
fake buyers.

Each platform module (taobao.py, jd.py, ...) renders a `MarketOrder` as its native payload and speaks its
own protocol; the lifecycle here is neutral: unpaid -> paid -> shipped, or cancelled, plus a refund flag.
Times are whole seconds (UTC) because every platform's time fields are.

Payment: a marketplace takes the buyer's money itself; the own store's buyers pay through the sandbox payment
gateway (sandbox/gateway.py), one trade per order for what the order comes to, with out_trade_no
`own_store_out_trade_no(shop, external_id)`; the order keeps the gateway's trade_no.
"""

from __future__ import annotations

import random
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from sandbox.gateway import GatewayState
from sandbox.records import Record, RecordStore

CHANNELS = ("taobao", "jd", "pinduoduo", "douyin", "shopify", "own_store")
DEFAULT_SKUS = ("SKU-1", "SKU-2", "SKU-3", "SKU-4")
Phase = Literal["unpaid", "paid", "shipped", "cancelled"]
AfterSaleType = Literal["refund_only", "return_and_refund"]
# A buyer's after-sales request at the platform: waiting for the seller, agreed (refunded), refused, or closed
# (withdrawn by the buyer). Each platform renders these as its own codes.
AfterSaleStatus = Literal["pending", "agreed", "refused", "closed"]
ErrorKind = Literal["app_key", "sign", "token", "rate", "param", "method", "not_found", "state"]


class PlatformError(Exception):
    """A marketplace refusal; each platform renders it in its own error shape."""

    def __init__(self, kind: ErrorKind, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.code = code  # a platform-specific code chosen by the platform module, if any


def now_s() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@dataclass
class ShopAccount:
    channel: str
    shop: str
    app_key: str
    app_secret: str
    access_token: str
    dead_tokens: set[str] = field(default_factory=set)  # expired or revoked
    webhook_url: str | None = None
    skus: set[str] = field(default_factory=lambda: set(DEFAULT_SKUS))  # the shop's listed outer sku ids
    stock: dict[str, int] = field(default_factory=dict)  # as last pushed

    def token_ok(self, token: str | None) -> bool:
        return bool(token) and token == self.access_token and token not in self.dead_tokens


def default_shop(channel: str) -> ShopAccount:
    """The shop every channel starts with: what the hub's `make dev` seeds."""
    return ShopAccount(channel=channel, shop="default", app_key=f"sandbox-{channel}",
                       app_secret=f"sandbox-secret-{channel}", access_token=f"sandbox-token-{channel}")


@dataclass
class Line:
    line_id: str
    product_id: int
    sku: str
    quantity: int
    unit_price: int  # fen


@dataclass
class Buyer:
    name: str
    phone: str
    province: str
    city: str
    district: str
    address: str
    zip: str
    province_en: str
    city_en: str


@dataclass
class AfterSaleRequest:
    """A refund or return the buyer opened on the platform, in neutral form (each platform module renders
    it with its own field names and codes). `amount` is fen asked; `lines` are empty for the whole order."""

    request_id: str  # the platform's own id: the seller answers by it
    type: AfterSaleType
    reason: str  # a neutral reason code (no_reason, quality, wrong_item, damaged, not_received, ...)
    amount: int
    lines: list[dict[str, Any]]  # {"line_id", "sku", "quantity", "unit_price"}
    created: datetime
    modified: datetime
    status: AfterSaleStatus = "pending"

    @property
    def whole_order(self) -> bool:
        return not self.lines


@dataclass
class MarketOrder:
    channel: str
    shop: str
    external_id: str
    created: datetime
    modified: datetime
    buyer: Buyer
    lines: list[Line]
    shipping_fee: int  # fen
    discount: int  # fen
    message: str | None
    phase: Phase = "unpaid"
    paid_at: datetime | None = None
    trade_no: str | None = None  # the gateway's, for an own-store order once paid
    refunded: bool = False
    shipped_at: datetime | None = None
    cancelled_at: datetime | None = None
    shipments: list[dict[str, Any]] = field(default_factory=list)  # {"waybill_no", "carrier", "at"}
    # after-sales refunds the seller pushed: {"refund_id", "status", "amount", "reason", "at", ...}. They do not
    # change the platform status the order shows (a hub-made refund must not come back as a channel cancel).
    refunds: list[dict[str, Any]] = field(default_factory=list)
    # after-sales requests the buyer opened (refund only or return); like the seller's refunds they leave the
    # order's own status and modified time alone: the platforms list them through their own after-sales APIs.
    after_sales: list[AfterSaleRequest] = field(default_factory=list)
    version: int = 0  # bumped with every change (webhook event order)

    @property
    def goods(self) -> int:
        return sum(line.quantity * line.unit_price for line in self.lines)

    @property
    def paid_amount(self) -> int:
        return self.goods + self.shipping_fee - self.discount

    def line_shares(self) -> list[int]:
        """Each line's share of what was paid for the goods (Taobao `divide_order_fee`, Douyin sku
        `pay_amount`, Shopify price less `discount_allocations`): the discount split by list price, the
        fen left by rounding down going to the largest remainders, so the shares add up to it exactly."""
        paid, weights = self.goods - self.discount, [line.quantity * line.unit_price for line in self.lines]
        whole = sum(weights) or 1
        shares = [paid * w // whole for w in weights]
        for i in sorted(range(len(weights)), key=lambda i: (-(paid * weights[i] % whole), i))[:paid - sum(shares)]:
            shares[i] += 1
        return shares

    def payment_no(self, prefix: str) -> str | None:
        """The platform's number for the buyer's payment (Taobao `alipay_no`, Pinduoduo `pay_no`): stable per
        order, None before payment."""
        if self.paid_at is None:
            return None
        return f"{prefix}{self.paid_at:%Y%m%d}{self.external_id[-16:].rjust(16, '0')}"

    @property
    def refunded_amount(self) -> int:
        """Fen refunded through after-sales pushes so far."""
        return sum(r["amount"] for r in self.refunds if r["status"] == "REFUNDED")

    def touch(self, at: datetime | None = None) -> None:
        """A change: the modified time moves (never backwards) and the version goes up."""
        at = at or now_s()
        self.modified = max(at, self.modified)
        self.version += 1


class TokenBucket:
    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.rate, self.burst = rate_per_s, burst
        self.tokens = float(burst)
        self.at = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


# (province, city, district, pinyin province, pinyin city, zip): provinces as models/regions.py knows them.
PLACES = [
    ("浙江省", "杭州市", "西湖区", "Zhejiang", "Hangzhou", "310012"),
    ("广东省", "广州市", "天河区", "Guangdong", "Guangzhou", "510630"),
    ("广东省", "深圳市", "南山区", "Guangdong", "Shenzhen", "518057"),
    ("北京市", "北京市", "朝阳区", "Beijing", "Beijing", "100020"),
    ("上海市", "上海市", "浦东新区", "Shanghai", "Shanghai", "200120"),
    ("江苏省", "南京市", "鼓楼区", "Jiangsu", "Nanjing", "210008"),
    ("四川省", "成都市", "武侯区", "Sichuan", "Chengdu", "610041"),
    ("湖北省", "武汉市", "洪山区", "Hubei", "Wuhan", "430070"),
    ("山东省", "青岛市", "市南区", "Shandong", "Qingdao", "266001"),
    ("辽宁省", "沈阳市", "和平区", "Liaoning", "Shenyang", "110001"),
]
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = ("伟", "芳", "娜", "敏", "静", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明", "超", "秀英")
ROADS = ("人民路", "解放路", "中山路", "建设路", "和平路", "文化路", "新华路", "长江路")
PRICES = (990, 1990, 2990, 4990, 9900, 12900, 19900)  # fen


def mask_name(name: str) -> str:
    return name[0] + "*" * (len(name) - 1) if len(name) > 1 else "*"


def mask_phone(phone: str) -> str:
    return f"{phone[:3]}****{phone[-4:]}"


class Marketplaces:
    """All marketplaces' state; lives on `app.state.platforms`."""

    def __init__(self, records: RecordStore, *, rate_per_s: float, burst: int, seed: int | None,
                 gateway: GatewayState | None = None) -> None:
        self.records = records
        self.gateway = gateway  # where own-store orders are paid; None: they are marked paid only
        self.default_rate = (rate_per_s, burst)
        self._seed = seed
        self.reset()

    def reset(self) -> None:
        self.shops: dict[tuple[str, str], ShopAccount] = {(c, "default"): default_shop(c) for c in CHANNELS}
        self.orders: dict[tuple[str, str], dict[str, MarketOrder]] = {}
        self.rates: dict[str, tuple[float, int]] = {}
        self.buckets: dict[tuple[str, str], TokenBucket] = {}
        self.random = random.Random(self._seed)
        self._stock_seq = 0

    # -- shops and credentials -------------------------------------------------------------------
    def shop(self, channel: str, shop: str) -> ShopAccount | None:
        return self.shops.get((channel, shop))

    def register(self, account: ShopAccount) -> ShopAccount:
        old = self.shops.get((account.channel, account.shop))
        if old is not None:
            account.stock, account.skus = old.stock, old.skus | account.skus
        self.shops[(account.channel, account.shop)] = account
        return account

    def apps(self, channel: str, app_key: str | None) -> list[ShopAccount]:
        return [s for s in self.shops.values() if s.channel == channel and app_key and s.app_key == app_key]

    def by_token(self, channel: str, token: str | None) -> ShopAccount | None:
        """The shop whose current or former token this is (the token names the shop, as a session does)."""
        for account in self.shops.values():
            if account.channel == channel and token and (token == account.access_token or token in account.dead_tokens):
                return account
        return None

    def set_rate(self, channel: str, per_s: float, burst: int) -> None:
        self.rates[channel] = (per_s, burst)
        for key in [k for k in self.buckets if k[0] == channel]:
            del self.buckets[key]

    def take_call(self, channel: str, app_key: str) -> None:
        """One call against the app's token bucket; PlatformError("rate") when it is empty."""
        key = (channel, app_key)
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = TokenBucket(*self.rates.get(channel, self.default_rate))
        if not bucket.take():
            raise PlatformError("rate", "call rate limit exceeded for this app")

    def authenticate(self, channel: str, app_key: str | None, token: str | None) -> ShopAccount:
        """App key, then the rate limit, then the token (signature checks come in between, per platform)."""
        if not self.apps(channel, app_key):
            raise PlatformError("app_key", "unknown app key")
        self.take_call(channel, app_key or "")
        account = self.by_token(channel, token)
        if account is None or account.app_key != app_key or not account.token_ok(token):
            raise PlatformError("token", "access token invalid or expired")
        return account

    def secret_for(self, channel: str, app_key: str | None, token: str | None) -> str:
        account = self.by_token(channel, token)
        if account is not None and account.app_key == app_key:
            return account.app_secret
        apps = self.apps(channel, app_key)
        return apps[0].app_secret if apps else ""

    def token_action(self, account: ShopAccount, action: str) -> str | None:
        if action in ("expire", "revoke"):
            account.dead_tokens.add(account.access_token)
            return None
        account.dead_tokens.add(account.access_token)
        account.access_token = f"{account.channel}-tok-{secrets.token_hex(12)}"
        return account.access_token

    # -- orders ----------------------------------------------------------------------------------
    def shop_orders(self, channel: str, shop: str) -> dict[str, MarketOrder]:
        return self.orders.setdefault((channel, shop), {})

    def order(self, channel: str, shop: str, external_id: str) -> MarketOrder | None:
        return self.orders.get((channel, shop), {}).get(external_id)

    def create_orders(self, channel: str, shop: ShopAccount, count: int, skus: list[str], *, paid: bool,
                      spread_s: float, new_id: Any) -> list[MarketOrder]:
        """`count` orders; with `spread_s` their times spread evenly over the past `spread_s` seconds."""
        rng = self.random
        now = now_s()
        orders = self.shop_orders(channel, shop.shop)
        shop.skus.update(skus)
        created = []
        for i in range(count):
            external_id = new_id()
            while external_id in orders:
                external_id = new_id()
            at = now - timedelta(seconds=int(spread_s * (count - 1 - i) / max(count - 1, 1))) if spread_s else now
            province, city, district, province_en, city_en, zip_code = rng.choice(PLACES)
            buyer = Buyer(name=rng.choice(SURNAMES) + rng.choice(GIVEN), phone="1" + rng.choice("3589") +
                          "".join(rng.choice("0123456789") for _ in range(9)), province=province, city=city,
                          district=district, address=f"{rng.choice(ROADS)} {rng.randint(1, 999)} 号",
                          zip=zip_code, province_en=province_en, city_en=city_en)
            chosen = rng.sample(skus, k=rng.randint(1, min(3, len(skus))))
            lines = [Line(line_id=str(rng.randint(10**15, 10**16 - 1)), product_id=rng.randint(10**11, 10**12 - 1),
                          sku=sku, quantity=rng.randint(1, 3), unit_price=rng.choice(PRICES)) for sku in chosen]
            order = MarketOrder(channel=channel, shop=shop.shop, external_id=external_id, created=at, modified=at,
                                buyer=buyer, lines=lines, shipping_fee=rng.choice((0, 0, 800)), discount=0,
                                message=rng.choice((None, None, "请尽快发货", "周末送货")))
            order.discount = rng.choice((0, 0, min(500, order.goods)))
            if paid:
                self.mark_paid(order, at)
            orders[external_id] = order
            created.append(order)
        return created

    def apply_event(self, order: MarketOrder, event: str) -> None:
        """Buyer/platform side changes: pay, cancel (before shipping), refund (after payment)."""
        if event == "pay":
            if order.phase != "unpaid":
                raise PlatformError("state", f"cannot pay an order that is {order.phase}")
            self.mark_paid(order, now_s())
        elif event == "cancel":
            if order.phase not in ("unpaid", "paid"):
                raise PlatformError("state", f"cannot cancel an order that is {order.phase}")
            order.phase, order.cancelled_at = "cancelled", now_s()
        elif event == "refund":
            if order.paid_at is None or order.refunded:
                raise PlatformError("state", "only a paid, unrefunded order can be refunded")
            order.refunded = True
        else:
            raise PlatformError("param", f"unknown event {event}")
        order.touch()

    def mark_paid(self, order: MarketOrder, at: datetime) -> None:
        order.phase, order.paid_at = "paid", at
        if order.channel == "own_store" and self.gateway is not None and order.paid_amount > 0:
            payment, _ = self.gateway.pay(own_store_out_trade_no(order.shop, order.external_id),
                                          Decimal(order.paid_amount) / 100, subject=f"order {order.external_id}",
                                          paid_at=at)
            order.trade_no = payment.trade_no

    def window(self, channel: str, shop: str, start: datetime, end: datetime, *, paid_only: bool = False
               ) -> list[MarketOrder]:
        """Orders modified in start..end (inclusive, whole seconds), oldest change first."""
        orders = [o for o in self.shop_orders(channel, shop).values()
                  if start <= o.modified <= end and not (paid_only and o.paid_at is None)]
        return sorted(orders, key=lambda o: (o.modified, o.external_id))

    # -- effects ---------------------------------------------------------------------------------
    def ship(self, account: ShopAccount, external_id: str, waybill_no: str, carrier: str, *,
             key: str | None = None, unknown_ok: bool = False, **extra: Any) -> tuple[Record, bool]:
        """Mark the order shipped with this waybill (one more parcel if it already was). Idempotent per
        `key` (default: the order and waybill). Returns (record, first time)."""
        key = key or f"{account.channel}/{account.shop}/{external_id}/{waybill_no}"
        previous = self.records.replay("shipback", key)
        if previous is not None:
            return previous, False
        order = self.order(account.channel, account.shop, external_id)
        if order is None and not unknown_ok:
            raise PlatformError("not_found", f"order {external_id} does not exist")
        if order is not None:
            if order.phase == "unpaid":
                raise PlatformError("state", f"order {external_id} is not paid")
            if order.phase == "cancelled" or order.refunded:
                raise PlatformError("state", f"order {external_id} is closed")
            at = now_s()
            order.shipments.append({"waybill_no": waybill_no, "carrier": carrier, "at": at.isoformat()})
            if order.phase == "paid":
                order.phase, order.shipped_at = "shipped", at
            order.touch(at)
        body = {"channel": account.channel, "shop": account.shop, "external_id": external_id,
                "waybill_no": waybill_no, "carrier": carrier, **extra}
        result = {"ok": True, "shipment_id": f"SHP{secrets.token_hex(6).upper()}"}
        return self.records.add("shipback", key, body, result), True

    def refund(self, account: ShopAccount, external_id: str, refund_id: str, amount: int, status: str, *,
               reason: str = "", unknown_ok: bool = False, **extra: Any) -> tuple[Record, bool]:
        """An after-sales refund made (REFUNDED) or refused (REJECTED) by the seller, `amount` in fen. Idempotent
        per order and refund id: a repeat answers as the first time and records nothing new. Returns (record,
        first time)."""
        key = f"{account.channel}/{account.shop}/{external_id}/{refund_id}"
        previous = self.records.replay("channel_refund", key)
        if previous is not None:
            return previous, False
        if status not in ("REFUNDED", "REJECTED"):
            raise PlatformError("param", f"unknown refund status {status}")
        if amount < 0:
            raise PlatformError("param", "refund amount must not be negative")
        order = self.order(account.channel, account.shop, external_id)
        if order is None and not unknown_ok:
            raise PlatformError("not_found", f"order {external_id} does not exist")
        at = now_s()
        if order is not None:
            if status == "REFUNDED":
                if order.paid_at is None:
                    raise PlatformError("state", f"order {external_id} is not paid")
                if order.phase == "cancelled" or order.refunded:
                    raise PlatformError("state", f"order {external_id} is closed")
                if amount > order.paid_amount - order.refunded_amount:
                    raise PlatformError("param", f"refund of {amount} fen exceeds what is left of the payment "
                                                 f"({order.paid_amount - order.refunded_amount} fen)")
            order.refunds.append({"refund_id": refund_id, "status": status, "amount": amount, "reason": reason,
                                  "at": at.isoformat(), **extra})
            request = self.after_sale(order, refund_id)
            if request is not None:  # the seller answered the buyer's own request, by its id
                request.status = "agreed" if status == "REFUNDED" else "refused"
                request.modified = max(at, request.modified)
        body = {"channel": account.channel, "shop": account.shop, "external_id": external_id, "refund_id": refund_id,
                "amount": amount, "status": status, "reason": reason, **extra}
        result = {"ok": True, "refund_no": f"RFD{secrets.token_hex(6).upper()}", "at": at.isoformat()}
        return self.records.add("channel_refund", key, body, result), True

    # -- after-sales requests the buyer opens ---------------------------------------------------------
    def open_after_sale(self, order: MarketOrder, *, type: AfterSaleType, reason: str, amount: int | None,
                        lines: list[tuple[str, int]] | None, request_id: str) -> AfterSaleRequest:
        """The buyer asks for a refund (refund_only) or a return (return_and_refund) of `lines` (sku, quantity),
        or of the whole order. `amount` fen defaults to what those lines cost (the whole order: what is left
        of the payment). Refused as the platforms refuse it: unpaid or closed order, nothing shipped to
        return, lines the order does not have, more than was paid."""
        if order.paid_at is None:
            raise PlatformError("state", f"order {order.external_id} is not paid")
        if order.phase == "cancelled" or order.refunded:
            raise PlatformError("state", f"order {order.external_id} is closed")
        if type == "return_and_refund" and order.phase != "shipped":
            raise PlatformError("state", f"order {order.external_id} has not shipped: nothing to return")
        left = order.paid_amount - order.refunded_amount
        chosen: list[dict[str, Any]] = []
        for sku, quantity in lines or []:
            line = next((l for l in order.lines if l.sku == sku), None)
            if line is None:
                raise PlatformError("param", f"order {order.external_id} has no line with sku {sku}")
            if not 1 <= quantity <= line.quantity:
                raise PlatformError("param", f"sku {sku}: quantity must be 1..{line.quantity}")
            chosen.append({"line_id": line.line_id, "sku": sku, "quantity": quantity, "unit_price": line.unit_price})
        if amount is None:
            amount = min(left, sum(l["quantity"] * l["unit_price"] for l in chosen)) if chosen else left
        if not 0 < amount <= left:
            raise PlatformError("param", f"amount must be 1..{left} fen (what is left of the payment)")
        at = now_s()
        request = AfterSaleRequest(request_id=request_id, type=type, reason=reason, amount=amount, lines=chosen,
                                   created=at, modified=at)
        order.after_sales.append(request)
        return request

    @staticmethod
    def after_sale(order: MarketOrder, request_id: str) -> AfterSaleRequest | None:
        return next((r for r in order.after_sales if r.request_id == request_id), None)

    def close_after_sale(self, order: MarketOrder, request_id: str) -> AfterSaleRequest:
        """The buyer withdraws a request still waiting for the seller."""
        request = self.after_sale(order, request_id)
        if request is None:
            raise PlatformError("not_found", f"no after-sales request {request_id} on order {order.external_id}")
        if request.status != "pending":
            raise PlatformError("state", f"after-sales request {request_id} is {request.status}")
        request.status, request.modified = "closed", max(now_s(), request.modified)
        return request

    def after_sales_window(self, channel: str, shop: str, start: datetime, end: datetime, *, by: str = "modified"
                           ) -> list[tuple[MarketOrder, AfterSaleRequest]]:
        """Requests whose `by` time (modified or created) is in start..end (inclusive), oldest first."""
        found = [(o, r) for o in self.shop_orders(channel, shop).values() for r in o.after_sales
                 if start <= getattr(r, by) <= end]
        return sorted(found, key=lambda pair: (getattr(pair[1], by), pair[1].request_id))

    def set_stock(self, account: ShopAccount, sku: str, quantity: int) -> Record:
        if sku not in account.skus:
            raise PlatformError("not_found", f"no listing with outer sku id {sku}")
        if quantity < 0:
            raise PlatformError("param", "quantity must not be negative")
        account.stock[sku] = quantity
        self._stock_seq += 1
        body = {"channel": account.channel, "shop": account.shop, "sku": sku, "quantity": quantity}
        return self.records.add("stock", f"{account.channel}/{account.shop}/{sku}#{self._stock_seq}", body,
                                {"ok": True})


def own_store_out_trade_no(shop: str, external_id: str) -> str:
    """The own store's merchant order number at the gateway: one trade per order."""
    return f"{shop}-{external_id}"


def new_digits(length: int) -> str:
    """Unpredictable ids (not seeded): a restarted sandbox must not reissue an order id the hub has seen."""
    return str(secrets.randbelow(9 * 10 ** (length - 1)) + 10 ** (length - 1))
