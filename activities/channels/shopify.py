"""Shopify (Admin REST API order JSON, as `GET /orders/{id}.json` and the `orders/*` webhooks send it).

External id: the numeric `id` (stable, URL-safe), not the display `name` ("#1001").
Money: decimal strings in the shop currency, converted to hundredths like yuan -> fen (the shop is
assumed to sell in CNY or to be converted upstream). Unit price `line_items[].price`; shipping is the
sum of `shipping_lines[].price`, discount `total_discounts` (REST field names, absent = 0).
A line's share of the payment: `price` x `quantity` less its `discount_allocations[].amount` (the line's
part of every discount, order-level ones included); no trade number is read (the refund goes through
Shopify's refunds API against the order's own transactions).
Buyer: `shipping_address {name, phone, address1, address2, city, province, zip}`; Shopify has no
district, so it stays empty; phone falls back to the order's `phone`.
Times: ISO-8601 with offset (a time without one is refused).

State, in this order of precedence (explicit tables below):
1. `cancelled_at` set -> CANCELLED.
2. `financial_status`: refunded -> REFUNDED, partially_refunded -> REFUNDING, voided -> CANCELLED;
   pending / authorized / partially_paid -> AWAITING_PAYMENT. `authorized` counts as NOT yet paid:
   the money is only reserved and may still fail to capture, so the hub must not ship on it;
   likewise partially_paid.
3. paid: `fulfillment_status` null -> PAID, partial -> PARTLY_SHIPPED, fulfilled -> SHIPPED,
   restocked -> REFUNDING (goods came back on an uncancelled, unrefunded order: an after-sale, UNVERIFIED).

Wire (`ShopifyWire`): REST Admin API `2024-10` under `/shopify/{shop}/admin/api/2024-10` (sandbox;
production `https://{shop}.myshopify.com/admin/api/2024-10`), token in `X-Shopify-Access-Token`; errors
are HTTP statuses with `{"errors": ...}` (401 token, 429 rate limit with `Retry-After`).
- Pull: `GET orders.json?status=any&updated_at_min=&updated_at_max=&limit<=250&order=updated_at asc`, then
  the `Link: <...page_info=...>; rel="next"` cursor. Cursor (keyset) pages cannot be read backwards; they
  do not shift when an order changes, and a changed order moves past `updated_at_max` into the next window.
- Ship-back: `GET orders/{id}/fulfillments.json` (a fulfillment with this tracking number already there:
  done, so a retry is one fulfillment), `GET orders/{id}/fulfillment_orders.json`, then
  `POST fulfillments.json` with `line_items_by_fulfillment_order` of every open fulfillment order (the hub
  does not pass a parcel's lines: the first parcel fulfils all items; a later parcel of a split order
  finding nothing open is a success without effect).
- Stock: `GET variants.json?sku=` (UNVERIFIED: REST has no sku filter; production would find the
  inventory item with GraphQL `productVariants(query: "sku:...")`), `GET locations.json` (first active),
  `POST inventory_levels/set.json {location_id, inventory_item_id, available}`.
- Refund: `GET orders/{id}/refunds.json` (a refund whose note starts `[<refund_id>]` is there already: done,
  so a retry is one refund), `GET orders/{id}/transactions.json` (the successful sale or capture is the
  parent), then `POST orders/{id}/refunds.json {"refund": {note, notify, transactions: [{parent_id, amount
  (yuan), kind: refund, gateway}]}}`. A refused refund (`REJECTED`) is nothing at Shopify: REST has no
  refund request to decline (a return is declined with GraphQL `returnDecline`, which needs a return id
  the hub does not hold; UNVERIFIED), so nothing is sent.
- After-sales requests: the returns the buyers requested. UNVERIFIED stand-in: Shopify serves returns
  through GraphQL (`returns`, `Return {status, returnLineItems {quantity, returnReason}}`); the sandbox
  serves REST-shaped copies at `GET returns.json?updated_at_min&updated_at_max&limit` (cursor pages as
  orders), each `{id, order_id, status, refund_only, return_line_items: [{line_item_id, sku, quantity,
  return_reason}], updated_at}`; `refund_only` and a line's `sku` are the sandbox's own. A return names no
  amount: the hub refunds what its lines cost. Answered by its id: agreed, a refund whose note starts
  `[<return id>]` (which closes the return); refused, `POST returns/{id}/decline.json {decline_reason,
  decline_note}` (GraphQL `returnDeclineRequest`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar, Literal

from activities.channels.base import (
    AfterSaleDraft,
    ChannelAdapter,
    ChannelState,
    Fields,
    Found,
    LineDraft,
    MappingError,
    OrderDraft,
    check_stock_quantity,
    http_status,
    lookup,
    reason_code,
    yuan_field,
)
from activities.channels.wire import (
    Call,
    ChannelCallError,
    Page,
    ShopAccess,
    Wire,
    WireRequest,
    WireResponse,
    iso_seconds,
    rest_error,
)
from models.channel import PlatformAfterSale, PlatformRequestStatus, RefundOutcome
from models.money import fen_to_yuan

S = ChannelState
PAID = "paid"  # marker: the fulfillment status decides

FINANCIAL_STATUS: dict[str, ChannelState | str] = {
    "pending": S.AWAITING_PAYMENT,
    "authorized": S.AWAITING_PAYMENT,
    "partially_paid": S.AWAITING_PAYMENT,
    "paid": PAID,
    "partially_refunded": S.REFUNDING,
    "refunded": S.REFUNDED,
    "voided": S.CANCELLED,
}
FULFILLMENT_STATUS: dict[str | None, ChannelState] = {
    None: S.PAID,
    "partial": S.PARTLY_SHIPPED,
    "fulfilled": S.SHIPPED,
    "restocked": S.REFUNDING,
}


# Return `status` (GraphQL ReturnStatus) -> where the buyer's request stands.
RETURN_STATUS = {
    "REQUESTED": PlatformRequestStatus.PENDING,
    "OPEN": PlatformRequestStatus.AGREED,
    "CLOSED": PlatformRequestStatus.REFUNDED,
    "DECLINED": PlatformRequestStatus.REFUSED,
    "CANCELED": PlatformRequestStatus.CLOSED,
}
# Return line `return_reason` (GraphQL ReturnReason) -> the hub's reason code; size, colour and style are the
# buyer's own choice, as a no-reason return is.
RETURN_REASONS = {"UNWANTED": "no_reason", "SIZE_TOO_SMALL": "no_reason", "SIZE_TOO_LARGE": "no_reason",
                  "COLOR": "no_reason", "STYLE": "no_reason", "DEFECTIVE": "quality", "WRONG_ITEM": "wrong_item",
                  "NOT_AS_DESCRIBED": "not_as_described"}

API_VERSION = "2024-10"
# UNVERIFIED: Shopify's tracking company names for the hub's carriers.
CARRIER_CODES = {"SF": "SF Express", "ZTO": "ZTO Express", "YTO": "YTO Express", "EMS": "EMS",
                 "JD": "JD Logistics"}
OPEN_FULFILLMENT_ORDER = ("open", "in_progress", "scheduled")


class ShopifyWire(Wire):
    paging: ClassVar[Literal["offset", "cursor"]] = "cursor"
    max_page_size = 250

    def api(self, access: ShopAccess, path: str) -> str:
        return f"/shopify/{access.shop}/admin/api/{API_VERSION}/{path}"

    def get(self, access: ShopAccess, path: str, op: str, **params: str) -> WireRequest:
        return WireRequest("GET", self.api(access, path), params=params or None, headers=self.headers(access), op=op)

    def headers(self, access: ShopAccess) -> dict[str, str]:
        return {"X-Shopify-Access-Token": access.access_token}

    def pull_request(self, access: ShopAccess, start: datetime, end: datetime, *, page: int,
                     page_size: int) -> WireRequest:
        return self.get(access, "orders.json", "pull", status="any", updated_at_min=iso_seconds(start),
                        updated_at_max=iso_seconds(end), limit=str(page_size), order="updated_at asc")

    def read_page(self, response: WireResponse, request: WireRequest, access: ShopAccess) -> Page:
        orders = response.body.get("orders") if isinstance(response.body, Mapping) else None
        if not isinstance(orders, list):
            raise ChannelCallError("refused", "unexpected_response", "orders.json: no orders list")
        link = response.links.get("next", {}).get("url")
        following = WireRequest("GET", link, headers=self.headers(access), op="pull") if link else None
        return Page(items=[o for o in orders if isinstance(o, dict)], next=following)

    @property
    def lists_after_sales(self) -> bool:
        return True

    def after_sales_request(self, access: ShopAccess, start: datetime, end: datetime, *, page: int,
                            page_size: int) -> WireRequest:
        return self.get(access, "returns.json", "after_sales", updated_at_min=iso_seconds(start),
                        updated_at_max=iso_seconds(end), limit=str(page_size))

    def read_after_sales_page(self, response: WireResponse, request: WireRequest, access: ShopAccess) -> Page:
        returns = response.body.get("returns") if isinstance(response.body, Mapping) else None
        if not isinstance(returns, list):
            raise ChannelCallError("refused", "unexpected_response", "returns.json: no returns list")
        link = response.links.get("next", {}).get("url")
        following = WireRequest("GET", link, headers=self.headers(access), op="after_sales") if link else None
        return Page(items=[r for r in returns if isinstance(r, dict)], next=following)

    def error_of(self, response: WireResponse) -> dict[str, Any] | None:
        return rest_error(response)

    def error_code(self, error: dict[str, Any]) -> str:
        return str(error.get("status", "unknown"))

    async def ship_back(self, call: Call, access: ShopAccess, adapter: ChannelAdapter, *, external_id: str,
                        waybill_no: str, carrier: str, is_split: bool, request_id: str) -> None:
        done = await call(self.get(access, f"orders/{external_id}/fulfillments.json", "shipback"))
        for fulfillment in _list(done, "fulfillments"):
            numbers = fulfillment.get("tracking_numbers") or [fulfillment.get("tracking_number")]
            if waybill_no in numbers:
                return  # shipped back before: a retry
        orders = await call(self.get(access, f"orders/{external_id}/fulfillment_orders.json", "shipback"))
        open_orders = [fo for fo in _list(orders, "fulfillment_orders") if fo.get("status") in OPEN_FULFILLMENT_ORDER]
        if not open_orders:
            if is_split:
                return  # the first parcel of the split order fulfilled every item
            raise ChannelCallError("refused", "no_open_fulfillment_order",
                                   f"order {external_id} has nothing left to fulfil")
        params = adapter.shipback_params(external_id, waybill_no, carrier, is_split=is_split)
        body = {"fulfillment": {
            **params["fulfillment"],
            "line_items_by_fulfillment_order": [{"fulfillment_order_id": fo["id"]} for fo in open_orders],
        }}
        await call(WireRequest("POST", self.api(access, "fulfillments.json"), json=body,
                               headers=self.headers(access), op="shipback"))

    async def push_refund(self, call: Call, access: ShopAccess, adapter: ChannelAdapter, *, external_id: str,
                          refund_id: str, amount: int, status: RefundOutcome, reason: str,
                          platform_request: bool = False) -> None:
        if platform_request and status == "REJECTED":
            # the buyer's return request is declined by its id; a repeat finds it declined already
            decline = {"decline_reason": "OTHER", "decline_note": reason}
            try:
                await call(WireRequest("POST", self.api(access, f"returns/{refund_id}/decline.json"), json=decline,
                                       headers=self.headers(access), op="refund"))
            except ChannelCallError as err:
                if err.code != "422" or "DECLINED" not in err.message:
                    raise
            return
        params = adapter.refund_params(external_id, refund_id, amount, status=status, reason=reason)
        if params is None:
            return  # a refused refund: nothing to tell Shopify
        done = await call(self.get(access, f"orders/{external_id}/refunds.json", "refund"))
        if any(is_refund_note(refund.get("note"), refund_id) for refund in _list(done, "refunds")):
            return  # refunded before: a retry
        transactions = []
        if params["amount"] != "0.00":
            paid = await call(self.get(access, f"orders/{external_id}/transactions.json", "refund"))
            parents = [t for t in _list(paid, "transactions")
                       if t.get("kind") in ("sale", "capture") and t.get("status") == "success"]
            if not parents:
                raise ChannelCallError("refused", "no_paid_transaction",
                                       f"order {external_id} has no payment to refund")
            transactions = [{"parent_id": parents[0]["id"], "amount": params["amount"], "kind": "refund",
                             "gateway": parents[0].get("gateway")}]
        body = {"refund": {**params["refund"], "transactions": transactions}}
        await call(WireRequest("POST", self.api(access, f"orders/{external_id}/refunds.json"), json=body,
                               headers=self.headers(access), op="refund"))

    async def push_stock(self, call: Call, access: ShopAccess, adapter: ChannelAdapter, *, sku: str,
                         quantity: int) -> None:
        params = adapter.stock_params(sku, quantity)
        variants = _list(await call(self.get(access, "variants.json", "stock", sku=sku)), "variants")
        if not variants:
            raise ChannelCallError("refused", "sku_not_found", f"no variant with sku {sku}")
        locations = _list(await call(self.get(access, "locations.json", "stock")), "locations")
        active = [loc for loc in locations if loc.get("active", True)]
        if not active:
            raise ChannelCallError("refused", "no_location", "the shop has no active location")
        body = {"location_id": active[0]["id"], "inventory_item_id": variants[0]["inventory_item_id"],
                "available": params["available"]}
        await call(WireRequest("POST", self.api(access, "inventory_levels/set.json"), json=body,
                               headers=self.headers(access), op="stock"))


def refund_note(refund_id: str, reason: str) -> str:
    """The refund's note: the hub's ticket id in brackets first (how a retry finds it), then the reason."""
    return f"[{refund_id}] {reason}".strip()


def is_refund_note(note: Any, refund_id: str) -> bool:
    return isinstance(note, str) and (note == f"[{refund_id}]" or note.startswith(f"[{refund_id}] "))


def _list(response: WireResponse, key: str) -> list[dict[str, Any]]:
    value = response.body.get(key) if isinstance(response.body, Mapping) else None
    if not isinstance(value, list):
        raise ChannelCallError("refused", "unexpected_response", f"no {key} in the answer")
    return [item for item in value if isinstance(item, dict)]


def _line(item: Fields) -> LineDraft:
    """A line item; its paid share is its price x quantity less the discounts Shopify allocated to it
    (`discount_allocations[].amount`: order-level discounts are allocated across the lines there, so
    they add up to `total_discounts` less any shipping discount). Without the list: unknown."""
    quantity, price = item.count("quantity"), yuan_field(item.first("price"))
    allocations = item.raw("discount_allocations")
    paid: int | None = None
    if isinstance(allocations, list):
        off = sum(Fields(a, f"{item.path}.discount_allocations[{i}]").yuan("amount", required=True)
                  for i, a in enumerate(allocations))
        if off > quantity * price:
            raise MappingError(f"{item.path}.discount_allocations", f"{off} fen exceed the line's {quantity * price}")
        paid = quantity * price - off
    return LineDraft(sku=item.text("sku"), quantity=quantity, unit_price=price, path=item.path, paid_amount=paid)


class ShopifyAdapter(ChannelAdapter):
    channel = "shopify"
    max_window = None  # updated_at_min/max take any range; pages follow the Link cursor
    pushes_webhooks = True
    wire = ShopifyWire()
    carrier_codes = CARRIER_CODES

    def map_state(self, payload: dict[str, Any]) -> ChannelState:
        f = Fields(payload)
        financial = lookup(FINANCIAL_STATUS, f.first("financial_status"))
        fulfillment_found = f.first("fulfillment_status", required=False) or Found("fulfillment_status", None)
        fulfillment = lookup(FULFILLMENT_STATUS, fulfillment_found)
        if f.raw("cancelled_at") is not None:
            return S.CANCELLED
        return fulfillment if financial == PAID else financial

    def read_order(self, f: Fields) -> OrderDraft:
        address = f.obj("shipping_address")
        phone = address.text("phone", required=False) or f.text("phone", required=False)
        if phone is None:
            raise MappingError(address.at("phone"), "missing (also looked for phone)")
        street = address.text("address1")
        extra = address.text("address2", required=False)
        shipping_lines = f.raw("shipping_lines", default=[])
        if not isinstance(shipping_lines, list):
            raise MappingError("shipping_lines", "expected a list")
        shipping = sum(Fields(s, f"shipping_lines[{i}]").yuan("price") for i, s in enumerate(shipping_lines))
        cancelled = " cancelled" if f.raw("cancelled_at") is not None else ""
        return OrderDraft(
            external_id=f.text("id"),
            buyer={
                "name": address.text("name"),
                "phone": phone,
                "province": address.text("province"),
                "city": address.text("city"),
                "district": "",
                "address": Found(street.path, f"{street.value} {extra.value}" if extra else street.value),
                "zip": address.text("zip", required=False),
            },
            lines=[_line(item) for item in f.items("line_items")],
            shipping_fee=shipping,
            discount=f.yuan("total_discounts"),
            discount_path="total_discounts",
            buyer_message=f.text("note", required=False),
            placed_at=f.time("created_at", required=False, naive_tz=None),
            modified_at=f.time("updated_at", naive_tz=None),
            payment_evidence=f.raw("financial_status") in ("paid", "partially_refunded", "refunded"),
            raw_status=f"{f.raw('financial_status')}/{f.raw('fulfillment_status') or 'unfulfilled'}{cancelled}",
        )

    def map_after_sale(self, payload: dict[str, Any], *, shop: str) -> PlatformAfterSale:
        f = Fields(payload)
        status = f.first("status")
        items = f.items("return_line_items")
        reasons = {reason_code(RETURN_REASONS, item.text("return_reason", required=False)) for item in items}
        refund_only = f.raw("refund_only", default=False)
        return self.assemble_after_sale(AfterSaleDraft(
            request_id=f.text("id"), external_id=f.text("order_id"),
            type="refund_only" if refund_only is True else "return_and_refund",
            reason=reasons.pop() if len(reasons) == 1 else "other", amount=None,
            lines=[(item.text("sku"), item.count("quantity"), item.path) for item in items],
            status=lookup(RETURN_STATUS, status), raw_status=str(status.value),
            modified_at=f.time("updated_at", naive_tz=None),
        ), shop=shop)

    # Shopify does not sign requests (the token travels in X-Shopify-Access-Token): `sign` is not
    # supported; inbound webhooks are checked with signing.verify_shopify_webhook.

    def shipback_params(self, external_id: str, waybill_no: str, carrier: str, *, is_split: bool) -> dict[str, Any]:
        # POST /fulfillments.json. The transport first reads GET /orders/{id}/fulfillment_orders.json
        # and fills `line_items_by_fulfillment_order` (all open items, or for a split parcel only its
        # items): the adapter does not know the fulfillment order ids.
        return {
            "order_id": external_id,
            "fulfillment": {
                "tracking_info": {"number": waybill_no, "company": carrier},
                "notify_customer": True,
            },
        }

    def stock_params(self, outer_sku_id: str, quantity: int) -> dict[str, Any]:
        # POST /inventory_levels/set.json wants inventory_item_id + location_id: the transport resolves
        # them from the sku (variant lookup) and the shop's fulfilment location.
        return {"sku": outer_sku_id, "available": check_stock_quantity(quantity)}

    def refund_params(self, external_id: str, refund_id: str, amount: int, *, status: RefundOutcome,
                      reason: str) -> dict[str, Any] | None:
        # POST /orders/{id}/refunds.json: the transport adds the parent transaction (the sale) it looks up.
        # None for a refused refund: Shopify has nothing to decline (see the module docstring).
        if status != "REFUNDED":
            return None
        return {"order_id": external_id, "amount": fen_to_yuan(amount),
                "refund": {"note": refund_note(refund_id, reason), "notify": False}}

    def is_auth_error(self, error: dict[str, Any]) -> bool:
        # An expired/revoked token or an uninstalled app answers HTTP 401
        # {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}.
        return http_status(error) == 401

    def is_rate_limited(self, error: dict[str, Any]) -> bool:
        return http_status(error) == 429  # {"errors": "Exceeded 2 calls per second for api client..."}
