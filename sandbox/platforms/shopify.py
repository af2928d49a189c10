"""Shopify Admin REST API 2024-10 under `/shopify/{shop}/admin/api/2024-10`, token in
`X-Shopify-Access-Token`; errors as HTTP statuses with `{"errors": ...}` (401, 404, 422, 429 + Retry-After).

- `GET orders.json?status=any&updated_at_min&updated_at_max&limit<=250&order=updated_at asc`, cursor pages
  through `Link: <...page_info=...>; rel="next"` (a page_info request may carry only `limit`); keyset
  cursors on (updated_at, id), so pages do not shift when orders change.
- `GET orders/{id}/fulfillments.json`, `GET orders/{id}/fulfillment_orders.json` (one fulfillment order per
  order: open until fulfilled), `POST fulfillments.json` with `line_items_by_fulfillment_order` and
  `tracking_info {number, company}` (201; 422 for a fulfillment order that is not open).
- Stock: `GET variants.json?sku=` (UNVERIFIED stand-in for the GraphQL sku lookup), `GET locations.json`,
  `POST inventory_levels/set.json {location_id, inventory_item_id, available}`.
- Refunds: `GET orders/{id}/transactions.json` (one `sale` per paid order, then its refunds),
  `GET orders/{id}/refunds.json`, `POST orders/{id}/refunds.json {"refund": {note, notify, transactions:
  [{parent_id, amount, kind: refund}]}}` (201; 422 beyond what was paid). A note starting `[<id>]` names
  the seller's after-sales ticket: one refund per ticket (the hub's key), a repeat answers the first one.
- Returns the buyer requested (UNVERIFIED stand-in: Shopify serves returns through GraphQL only; these are
  REST-shaped copies of its `Return` object): `GET returns.json?updated_at_min&updated_at_max&limit<=250`
  with the same keyset `page_info` cursor as orders, each `{id, admin_graphql_api_id, order_id, name,
  status (REQUESTED, OPEN, CLOSED, DECLINED, CANCELED), refund_only, return_line_items: [{id, line_item_id,
  sku, quantity, return_reason (UNWANTED, DEFECTIVE, WRONG_ITEM, NOT_AS_DESCRIBED, OTHER, ...),
  return_reason_note}], created_at, updated_at}` (`refund_only` and the line's `sku` are the sandbox's own;
  a whole-order request lists every line), and `POST returns/{id}/decline.json {decline_reason,
  decline_note}` (GraphQL `returnDeclineRequest`). A refund whose note starts `[<return id>]` answers the
  return (it closes).
- Webhooks `orders/create`, `orders/paid`, `orders/cancelled`, `orders/updated` with the order JSON,
  `X-Shopify-Hmac-SHA256` (base64 HMAC-SHA256 of the raw body, app secret), `X-Shopify-Topic`,
  `X-Shopify-Event-Id`, `X-Shopify-Webhook-Id`, `X-Shopify-Shop-Domain`, `X-Shopify-API-Version`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import zlib
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from sandbox.faults import FaultInjectedRoute
from sandbox.platforms import signing
from sandbox.platforms.base import parse_yuan
from sandbox.platforms.rest import RestError, RestPlatform
from sandbox.platforms.state import AfterSaleRequest, MarketOrder, PlatformError, ShopAccount, new_digits
from sandbox.platforms.taobao import yuan

API_VERSION = "2024-10"
LOCATION_ID = 65432100001
CN = timezone(timedelta(hours=8))
STATUSES = {"any", "open", "closed", "cancelled"}
TICKET = re.compile(r"^\[([^\]]+)\]\s*")  # a refund note naming the seller's after-sales ticket
RETURN_STATUS = {"pending": "REQUESTED", "agreed": "CLOSED", "refused": "DECLINED", "closed": "CANCELED"}
RETURN_REASONS = {"no_reason": "UNWANTED", "quality": "DEFECTIVE", "wrong_item": "WRONG_ITEM", "damaged": "DEFECTIVE",
                  "not_as_described": "NOT_AS_DESCRIBED"}  # anything else: OTHER


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(CN).isoformat()


def item_id(sku: str) -> int:
    return 40000000000 + zlib.crc32(sku.encode())


def variant_id(sku: str) -> int:
    return 30000000000 + zlib.crc32(sku.encode())


class Shopify(RestPlatform):
    channel = "shopify"
    max_page_size = 250
    carriers = frozenset({"SF Express", "ZTO Express", "YTO Express", "EMS", "JD Logistics", "China Post"})
    topics = {"create": "orders/create", "pay": "orders/paid", "cancel": "orders/cancelled",
              "refund": "orders/updated"}

    def new_id(self) -> str:
        return new_digits(13)

    def refusal(self, err: PlatformError) -> RestError:
        if err.kind == "token":
            return RestError(401, {"errors": "[API] Invalid API key or access token (unrecognized login or wrong "
                                             "password)"})
        if err.kind == "rate":
            return RestError(429, {"errors": "Exceeded 2 calls per second for api client. Reduce request rates."},
                             {"Retry-After": "1.0"})
        if err.kind == "not_found":
            return RestError(404, {"errors": "Not Found"})
        if err.kind == "state":
            return RestError(422, {"errors": [err.message]})
        return RestError(400, {"errors": {"base": [err.message]}})

    def token_of(self, request: Request) -> str | None:
        return request.headers.get("x-shopify-access-token")

    def financial_status(self, order: MarketOrder) -> str:
        if order.refunded or (order.phase == "cancelled" and order.paid_at):
            return "refunded"
        if order.phase == "cancelled":
            return "voided"
        return "pending" if order.paid_at is None else "paid"

    def raw_status(self, order: MarketOrder) -> str:
        fulfilment = "fulfilled" if order.shipments else "unfulfilled"
        return f"{self.financial_status(order)}/{fulfilment}{' cancelled' if order.cancelled_at else ''}"

    def payload(self, order: MarketOrder) -> dict[str, Any]:
        b, shipped = order.buyer, bool(order.shipments)
        return {
            "id": int(order.external_id), "admin_graphql_api_id": f"gid://shopify/Order/{order.external_id}",
            "name": f"#{1000 + int(order.external_id) % 9000}", "email": None, "phone": None,
            "created_at": iso(order.created), "updated_at": iso(order.modified), "processed_at": iso(order.created),
            "cancelled_at": iso(order.cancelled_at), "cancel_reason": "customer" if order.cancelled_at else None,
            "currency": "CNY", "financial_status": self.financial_status(order),
            "fulfillment_status": "fulfilled" if shipped else None, "note": order.message,
            "subtotal_price": yuan(order.goods - order.discount), "total_price": yuan(order.paid_amount),
            "total_discounts": yuan(order.discount), "total_tax": "0.00",
            "line_items": [{"id": int(line.line_id), "variant_id": variant_id(line.sku), "title": line.sku,
                            "sku": line.sku, "quantity": line.quantity, "price": yuan(line.unit_price),
                            "fulfillable_quantity": 0 if shipped else line.quantity,
                            # the order's discount allocated across the lines, as Shopify does
                            "discount_allocations": [
                                {"amount": yuan(line.unit_price * line.quantity - share),
                                 "amount_set": {"shop_money": {"amount": yuan(line.unit_price * line.quantity - share),
                                                               "currency_code": "CNY"}},
                                 "discount_application_index": 0}] if order.discount else []}
                           for line, share in zip(order.lines, order.line_shares(), strict=True)],
            "shipping_lines": [{"id": 4433221100, "title": "Standard", "code": "Standard",
                                "price": yuan(order.shipping_fee)}],
            "shipping_address": {"name": b.name, "phone": b.phone, "address1": b.address, "address2": None,
                                 "city": b.city_en, "province": b.province_en, "country": "China",
                                 "country_code": "CN", "zip": b.zip},
        }

    def webhook_headers(self, account: ShopAccount, topic: str, event_id: str, body: bytes) -> dict[str, str]:
        return {"X-Shopify-Hmac-SHA256": signing.shopify_webhook_hmac(body, account.app_secret),
                "X-Shopify-Topic": topic,
                "X-Shopify-Event-Id": event_id, "X-Shopify-Webhook-Id": event_id,
                "X-Shopify-Shop-Domain": f"{account.shop}.myshopify.com", "X-Shopify-API-Version": API_VERSION,
                "X-Shopify-Triggered-At": datetime.now(CN).isoformat()}

    def fulfillment_order(self, order: MarketOrder) -> dict[str, Any]:
        if order.shipments:
            status = "closed"
        elif order.phase == "cancelled" or order.refunded:
            status = "cancelled"
        else:
            status = "open"
        return {"id": int(order.external_id) + 7, "order_id": int(order.external_id), "status": status,
                "line_items": [{"id": int(line.line_id) + 1, "line_item_id": int(line.line_id),
                                "quantity": line.quantity} for line in order.lines]}

    def fulfillments(self, order: MarketOrder) -> list[dict[str, Any]]:
        return [{"id": int(order.external_id) + 100 + i, "order_id": int(order.external_id), "status": "success",
                 "tracking_company": s["carrier"], "tracking_number": s["waybill_no"],
                 "tracking_numbers": [s["waybill_no"]], "created_at": s["at"]}
                for i, s in enumerate(order.shipments)]

    def sale(self, order: MarketOrder) -> dict[str, Any] | None:
        if order.paid_at is None:
            return None
        return {"id": int(order.external_id) + 200, "order_id": int(order.external_id), "kind": "sale",
                "status": "success", "amount": yuan(order.paid_amount), "currency": "CNY",
                "gateway": "shopify_payments", "created_at": iso(order.paid_at)}

    def refund_json(self, order: MarketOrder, refund: dict[str, Any]) -> dict[str, Any]:
        key = f"{order.external_id}/{refund['refund_id']}"
        refund_id = 80000000000 + zlib.crc32(key.encode())
        sale = self.sale(order)
        transactions = [{"id": refund_id + 1, "order_id": int(order.external_id), "kind": "refund",
                         "status": "success", "amount": yuan(refund["amount"]), "currency": "CNY",
                         "parent_id": sale["id"], "gateway": sale["gateway"], "created_at": refund["at"]}
                        ] if sale is not None and refund["amount"] else []
        return {"id": refund_id, "order_id": int(order.external_id), "note": refund.get("note"),
                "created_at": refund["at"], "transactions": transactions, "refund_line_items": []}

    def refunds(self, order: MarketOrder) -> list[dict[str, Any]]:
        return [self.refund_json(order, r) for r in order.refunds if r["status"] == "REFUNDED"]

    def new_after_sale_id(self) -> str:
        return new_digits(11)

    def after_sale_status(self, request: AfterSaleRequest) -> str:
        return RETURN_STATUS[request.status]

    def after_sale_payload(self, order: MarketOrder, request: AfterSaleRequest) -> dict[str, Any]:
        lines = request.lines or [{"line_id": l.line_id, "sku": l.sku, "quantity": l.quantity} for l in order.lines]
        reason = RETURN_REASONS.get(request.reason, "OTHER")
        return {
            "id": int(request.request_id), "admin_graphql_api_id": f"gid://shopify/Return/{request.request_id}",
            "order_id": int(order.external_id), "name": f"#{1000 + int(order.external_id) % 9000}-R1",
            "status": RETURN_STATUS[request.status], "refund_only": request.type == "refund_only",
            "return_line_items": [{"id": int(l["line_id"]) + 3, "line_item_id": int(l["line_id"]), "sku": l["sku"],
                                   "quantity": l["quantity"], "return_reason": reason,
                                   "return_reason_note": "" if reason != "OTHER" else request.reason}
                                  for l in lines],
            "created_at": iso(request.created), "updated_at": iso(request.modified),
        }

    # -- the API ---------------------------------------------------------------------------------
    def router(self) -> APIRouter:
        router = APIRouter(prefix="/shopify/{shop}/admin/api/{version}", tags=["shopify"],
                           route_class=FaultInjectedRoute)
        platform = self

        def begin(request: Request, shop: str, version: str):
            if version != API_VERSION:
                raise RestError(404, {"errors": "Not Found"})
            return platform.authenticate(request, shop)

        def order_of(market, account, order_id: str) -> MarketOrder:
            order = market.order(platform.channel, account.shop, order_id)
            if order is None:
                raise RestError(404, {"errors": "Not Found"})
            return order

        def page(request: Request, filters: set[str], first_cursor: dict[str, Any],
                 listed: Callable[[dict[str, Any]], list[Any]], key: Callable[[Any], tuple[datetime, str]],
                 ) -> tuple[list[Any], dict[str, str]]:
            """One page of a REST list, Shopify style: `limit`, a window, and `page_info` cursors in the
            Link header (a cursor carries the query's filters and cannot be combined with new ones)."""
            q = request.query_params
            limit = int(q.get("limit", "50")) if q.get("limit", "50").isdigit() else -1
            if not 1 <= limit <= platform.max_page_size:
                raise RestError(400, {"errors": {"limit": [f"must be 1..{platform.max_page_size}"]}})
            if "page_info" in q:
                if set(q) - {"page_info", "limit"} - filters:
                    raise RestError(400, {"errors": {"page_info": ["cannot be combined with other filters"]}})
                try:
                    cursor = json.loads(base64.urlsafe_b64decode(q["page_info"].encode()))
                except (ValueError, binascii.Error):
                    raise RestError(400, {"errors": {"page_info": ["invalid value"]}}) from None
            else:
                cursor = {"min": q.get("updated_at_min"), "max": q.get("updated_at_max"), "after": None,
                          **first_cursor}
            found = listed(cursor)
            if cursor["after"]:
                after = (datetime.fromisoformat(cursor["after"][0]), cursor["after"][1])
                found = [item for item in found if key(item) > after]
            chosen, headers = found[:limit], {}
            if len(found) > limit:
                at, last = key(chosen[-1])
                token = base64.urlsafe_b64encode(json.dumps(
                    {**cursor, "after": [at.isoformat(), last]}).encode()).decode()
                url = request.url.replace_query_params(limit=limit, page_info=token)
                headers["Link"] = f'<{url}>; rel="next"'
            return chosen, headers

        def window(cursor: dict[str, Any]) -> tuple[datetime, datetime]:
            return (platform.parse_time(cursor["min"], "updated_at_min") or datetime.min.replace(tzinfo=CN),
                    platform.parse_time(cursor["max"], "updated_at_max") or datetime.max.replace(tzinfo=CN))

        @router.get("/orders.json", name="shopify.orders")
        async def orders(request: Request, shop: str, version: str) -> Response:
            try:
                market, account = begin(request, shop, version)
                status = request.query_params.get("status", "open")
                if status not in STATUSES:
                    raise RestError(400, {"errors": {"status": ["invalid value"]}})
                chosen, headers = page(
                    request, {"fields"}, {"status": status},
                    lambda cursor: [o for o in market.window(platform.channel, account.shop, *window(cursor))
                                    if platform.matches(o, cursor["status"])],
                    lambda o: (o.modified, o.external_id))
                return JSONResponse({"orders": [platform.payload(o) for o in chosen]}, headers=headers)
            except RestError as err:
                return err.response()

        @router.get("/returns.json", name="shopify.after_sales")
        async def returns(request: Request, shop: str, version: str) -> Response:
            try:
                market, account = begin(request, shop, version)
                chosen, headers = page(
                    request, set(), {},
                    lambda cursor: market.after_sales_window(platform.channel, account.shop, *window(cursor)),
                    lambda pair: (pair[1].modified, pair[1].request_id))
                return JSONResponse({"returns": [platform.after_sale_payload(o, r) for o, r in chosen]},
                                    headers=headers)
            except RestError as err:
                return err.response()

        @router.post("/returns/{return_id}/decline.json", name="shopify.refund")
        async def decline_return(request: Request, shop: str, version: str, return_id: str) -> Response:
            try:
                market, account = begin(request, shop, version)
                body = await platform.json_body(request)
                found = next(((o, r) for o in market.shop_orders(platform.channel, account.shop).values()
                              for r in o.after_sales if r.request_id == return_id), None)
                if found is None:
                    raise RestError(404, {"errors": "Not Found"})
                order, made = found
                if made.status not in ("pending", "refused"):
                    raise RestError(422, {"errors": [f"Return is {RETURN_STATUS[made.status]}: it cannot be declined"]})
                note = body.get("decline_note") if isinstance(body.get("decline_note"), str) else ""
                try:
                    market.refund(account, order.external_id, return_id, 0, "REJECTED", reason=note,
                                  decline_reason=str(body.get("decline_reason") or "OTHER"))
                except PlatformError as err:
                    raise platform.refusal(err) from None
                return JSONResponse({"return": platform.after_sale_payload(order, made)})
            except RestError as err:
                return err.response()

        @router.get("/orders/{order_id}/fulfillments.json", name="shopify.shipback")
        async def fulfillments(request: Request, shop: str, version: str, order_id: str) -> Response:
            try:
                market, account = begin(request, shop, version)
                return JSONResponse({"fulfillments": platform.fulfillments(order_of(market, account, order_id))})
            except RestError as err:
                return err.response()

        @router.get("/orders/{order_id}/fulfillment_orders.json", name="shopify.shipback")
        async def fulfillment_orders(request: Request, shop: str, version: str, order_id: str) -> Response:
            try:
                market, account = begin(request, shop, version)
                order = order_of(market, account, order_id)
                return JSONResponse({"fulfillment_orders": [platform.fulfillment_order(order)]})
            except RestError as err:
                return err.response()

        @router.post("/fulfillments.json", name="shopify.shipback")
        async def create_fulfillment(request: Request, shop: str, version: str) -> Response:
            try:
                market, account = begin(request, shop, version)
                body = await platform.json_body(request)
                fulfillment = body.get("fulfillment") if isinstance(body.get("fulfillment"), dict) else {}
                groups = fulfillment.get("line_items_by_fulfillment_order") or []
                tracking = fulfillment.get("tracking_info") or {}
                number, company = tracking.get("number"), tracking.get("company")
                if not groups or not number or not company:
                    raise RestError(422, {"errors": ["line_items_by_fulfillment_order and tracking_info "
                                                     "{number, company} are required"]})
                if company not in platform.carriers:
                    raise RestError(422, {"errors": [f"tracking_info.company {company} is not supported"]})
                fo_id = groups[0].get("fulfillment_order_id")
                order = next((o for o in market.shop_orders(platform.channel, account.shop).values()
                              if int(o.external_id) + 7 == fo_id), None)
                if order is None:
                    raise RestError(404, {"errors": "Not Found"})
                if platform.fulfillment_order(order)["status"] != "open":
                    raise RestError(422, {"errors": ["Fulfillment order is not in an open state"]})
                try:
                    market.ship(account, order.external_id, str(number), str(company))
                except PlatformError as err:
                    raise platform.refusal(err) from None
                return JSONResponse({"fulfillment": platform.fulfillments(order)[-1]}, status_code=201)
            except RestError as err:
                return err.response()

        @router.get("/orders/{order_id}/transactions.json", name="shopify.refund")
        async def transactions(request: Request, shop: str, version: str, order_id: str) -> Response:
            try:
                market, account = begin(request, shop, version)
                order = order_of(market, account, order_id)
                sale = platform.sale(order)
                refunds = [t for r in platform.refunds(order) for t in r["transactions"]]
                return JSONResponse({"transactions": ([sale] if sale else []) + refunds})
            except RestError as err:
                return err.response()

        @router.get("/orders/{order_id}/refunds.json", name="shopify.refund")
        async def refunds(request: Request, shop: str, version: str, order_id: str) -> Response:
            try:
                market, account = begin(request, shop, version)
                return JSONResponse({"refunds": platform.refunds(order_of(market, account, order_id))})
            except RestError as err:
                return err.response()

        @router.post("/orders/{order_id}/refunds.json", name="shopify.refund")
        async def create_refund(request: Request, shop: str, version: str, order_id: str) -> Response:
            try:
                market, account = begin(request, shop, version)
                order = order_of(market, account, order_id)
                body = await platform.json_body(request)
                refund = body.get("refund") if isinstance(body.get("refund"), dict) else None
                if refund is None:
                    raise RestError(422, {"errors": {"refund": ["is required"]}})
                note = refund.get("note") if isinstance(refund.get("note"), str) else ""
                sale = platform.sale(order)
                amount = 0
                for transaction in refund.get("transactions") or []:
                    if not isinstance(transaction, dict) or transaction.get("kind") != "refund":
                        raise RestError(422, {"errors": {"transactions": ["kind must be refund"]}})
                    if sale is None or transaction.get("parent_id") != sale["id"]:
                        raise RestError(422, {"errors": {"transactions": ["parent_id is not a sale of this order"]}})
                    try:
                        amount += parse_yuan(transaction.get("amount"), "amount")
                    except PlatformError as err:
                        raise RestError(422, {"errors": {"transactions": [err.message]}}) from None
                ticket = TICKET.match(note)
                refund_id = ticket.group(1) if ticket else f"shopify-{new_digits(10)}"
                reason = note[ticket.end():] if ticket else note
                try:
                    record, _ = market.refund(account, order.external_id, refund_id, amount, "REFUNDED",
                                              reason=reason, note=note)
                except PlatformError as err:
                    if err.kind in ("param", "state"):
                        raise RestError(422, {"errors": {"base": [err.message]}}) from None
                    raise platform.refusal(err) from None
                made = next(r for r in order.refunds if r["refund_id"] == record.body["refund_id"])
                return JSONResponse({"refund": platform.refund_json(order, made)}, status_code=201)
            except RestError as err:
                return err.response()

        @router.get("/variants.json", name="shopify.stock")
        async def variants(request: Request, shop: str, version: str) -> Response:
            try:
                _, account = begin(request, shop, version)
                sku = request.query_params.get("sku")
                skus = sorted(account.skus) if sku is None else [sku] if sku in account.skus else []
                return JSONResponse({"variants": [
                    {"id": variant_id(s), "sku": s, "inventory_item_id": item_id(s),
                     "inventory_quantity": account.stock.get(s, 0)} for s in skus]})
            except RestError as err:
                return err.response()

        @router.get("/locations.json", name="shopify.stock")
        async def locations(request: Request, shop: str, version: str) -> Response:
            try:
                begin(request, shop, version)
                return JSONResponse({"locations": [{"id": LOCATION_ID, "name": "Main warehouse", "active": True}]})
            except RestError as err:
                return err.response()

        @router.post("/inventory_levels/set.json", name="shopify.stock")
        async def set_level(request: Request, shop: str, version: str) -> Response:
            try:
                market, account = begin(request, shop, version)
                body = await platform.json_body(request)
                sku = next((s for s in account.skus if item_id(s) == body.get("inventory_item_id")), None)
                available = body.get("available")
                if body.get("location_id") != LOCATION_ID or sku is None:
                    raise RestError(404, {"errors": "Not Found"})
                if not isinstance(available, int) or isinstance(available, bool):
                    raise RestError(422, {"errors": {"available": ["must be a whole number"]}})
                market.set_stock(account, sku, available)
                return JSONResponse({"inventory_level": {"inventory_item_id": item_id(sku), "location_id": LOCATION_ID,
                                                         "available": available,
                                                         "updated_at": datetime.now(CN).isoformat()}})
            except RestError as err:
                return err.response()
            except PlatformError as err:
                return platform.refusal(err).response()

        return router

    def matches(self, order: MarketOrder, status: str) -> bool:
        if status == "any":
            return True
        if status == "cancelled":
            return order.cancelled_at is not None
        closed = order.cancelled_at is not None or bool(order.shipments)
        return closed if status == "closed" else not closed

    async def json_body(self, request: Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            raise RestError(400, {"errors": "body is not JSON"}) from None
        if not isinstance(body, dict):
            raise RestError(400, {"errors": "body must be a JSON object"})
        return body
