"""Shopify (Admin REST API order JSON, as `GET /orders/{id}.json` and the `orders/*` webhooks send it).

External id: the numeric `id` (stable, URL-safe), not the display `name` ("#1001").
Money: decimal strings in the shop currency, converted to hundredths like yuan -> fen (the shop is
assumed to sell in CNY or to be converted upstream). Unit price `line_items[].price`; shipping is the
sum of `shipping_lines[].price`, discount `total_discounts` (REST field names, absent = 0).
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
"""

from __future__ import annotations

from activities.channels.base import (
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
    yuan_field,
)

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


class ShopifyAdapter(ChannelAdapter):
    channel = "shopify"
    max_window = None  # updated_at_min/max take any range; pages follow the Link cursor
    pushes_webhooks = True

    def map_state(self, payload: dict) -> ChannelState:
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
            lines=[
                LineDraft(sku=item.text("sku"), quantity=item.count("quantity"),
                          unit_price=yuan_field(item.first("price")), path=item.path)
                for item in f.items("line_items")
            ],
            shipping_fee=shipping,
            discount=f.yuan("total_discounts"),
            discount_path="total_discounts",
            buyer_message=f.text("note", required=False),
            placed_at=f.time("created_at", required=False, naive_tz=None),
            modified_at=f.time("updated_at", naive_tz=None),
            payment_evidence=f.raw("financial_status") in ("paid", "partially_refunded", "refunded"),
            raw_status=f"{f.raw('financial_status')}/{f.raw('fulfillment_status') or 'unfulfilled'}{cancelled}",
        )

    # Shopify does not sign requests (the token travels in X-Shopify-Access-Token): `sign` is not
    # supported; inbound webhooks are checked with signing.verify_shopify_webhook.

    def shipback_params(self, external_id: str, waybill_no: str, carrier: str, *, is_split: bool) -> dict:
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

    def stock_params(self, outer_sku_id: str, quantity: int) -> dict:
        # POST /inventory_levels/set.json wants inventory_item_id + location_id: the transport resolves
        # them from the sku (variant lookup) and the shop's fulfilment location.
        return {"sku": outer_sku_id, "available": check_stock_quantity(quantity)}

    def is_auth_error(self, error: dict) -> bool:
        # An expired/revoked token or an uninstalled app answers HTTP 401
        # {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}.
        return http_status(error) == 401

    def is_rate_limited(self, error: dict) -> bool:
        return http_status(error) == 429  # {"errors": "Exceeded 2 calls per second for api client..."}
