"""Carrier calls: print the waybill, subscribe to tracking, query tracking."""

from __future__ import annotations

import structlog
from sqlmodel import col, select
from temporalio import activity

from activities.http import PartnerHttp
from models.db import session_scope
from models.shipping import (
    PrintWaybillInput,
    QueryTrackingInput,
    SubscribeTrackingInput,
    TrackingEvent,
    TrackingResult,
    Waybill,
)
from models.tables import OrderRecord, Warehouse

log = structlog.get_logger()

PRIVACY_WAYBILL_CHANNELS = frozenset({"taobao", "jd", "pinduoduo", "douyin"})


class ShippingActivities:
    def __init__(self, db_url: str, carrier_http: PartnerHttp) -> None:
        self.db_url = db_url
        self.http = carrier_http

    @activity.defn(name="print_waybill")
    async def print_waybill(self, request: PrintWaybillInput) -> Waybill:
        # The receiver is read from the database, so personal data never enters workflow history.
        async with session_scope(self.db_url) as session:
            order = await session.get(OrderRecord, request.order_id)
            warehouse = (await session.exec(select(Warehouse).where(col(Warehouse.code) == request.warehouse))).first()
        if order is None or warehouse is None:
            raise RuntimeError(f"order {request.order_id} or warehouse {request.warehouse} not found")
        body = await self.http.request(
            "POST",
            "/carrier/waybills",
            partner=f"carrier {request.carrier}",
            json={
                "carrier": request.carrier,
                "request_id": request.shipment_id,
                "sender": {"warehouse": warehouse.code, "province": warehouse.province, "city": warehouse.city},
                "receiver": {
                    "name": order.buyer_name,
                    "phone": order.buyer_phone,
                    "province": order.buyer_province,
                    "city": order.buyer_city,
                    "district": order.buyer_district,
                    "address": order.buyer_address,
                },
                "parcels": [line.model_dump() for line in request.lines],
                # Marketplace orders print as privacy waybills: the platform resolves its encrypted
                # receiver (Pinduoduo and Douyin hand out masked values only).
                **({"platform_order": {"channel": order.channel, "external_id": order.external_id}}
                   if order.channel in PRIVACY_WAYBILL_CHANNELS else {}),
            },
        )
        waybill = Waybill(shipment_id=request.shipment_id, waybill_no=body["waybill_no"],
                          carrier=body.get("carrier", request.carrier))
        log.info("waybill printed", order_id=request.order_id, shipment_id=request.shipment_id,
                 waybill_no=waybill.waybill_no, carrier=waybill.carrier)
        return waybill

    @activity.defn(name="subscribe_tracking")
    async def subscribe_tracking(self, request: SubscribeTrackingInput) -> None:
        await self.http.request(
            "POST",
            "/carrier/subscriptions",
            partner=f"carrier {request.carrier}",
            json={"waybill_no": request.waybill_no, "callback_url": request.callback_url},
        )

    @activity.defn(name="query_tracking")
    async def query_tracking(self, request: QueryTrackingInput) -> TrackingResult:
        body = await self.http.request(
            "GET", f"/carrier/tracking/{request.waybill_no}", partner=f"carrier {request.carrier}"
        )
        events = [
            TrackingEvent(
                event_id=e.get("event_id") or f"{request.waybill_no}-{e['status']}",
                waybill_no=request.waybill_no,
                status=e["status"],
                time=e.get("time"),
                site=e.get("site"),
            )
            for e in body.get("events", [])
        ]
        return TrackingResult(waybill_no=request.waybill_no, events=events)
