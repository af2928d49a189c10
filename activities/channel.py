"""Back to the sales channel: push the carrier and waybill of a shipped parcel.

Each channel speaks its own API; an adapter per channel maps our shipment into its ship-back
call. Only the own store is connected so far; the marketplace adapters plug in here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.channels import adapter_for
from activities.http import PartnerHttp
from models.shipping import PushShipmentInput

ShipBack = Callable[[PartnerHttp, PushShipmentInput], Awaitable[None]]


async def _own_store_ship_back(http: PartnerHttp, request: PushShipmentInput) -> None:
    params = adapter_for("own_store").shipback_params(
        request.external_id, request.waybill_no, request.carrier, is_split=request.is_split)
    await http.request(
        "POST",
        f"/own_store/{request.shop}/shipments",
        partner="own store",
        # request_id: one ship-back per parcel, however often retried
        json={"request_id": request.shipment_id, **params},
    )


SHIP_BACK: dict[str, ShipBack] = {"own_store": _own_store_ship_back}


class ChannelActivities:
    def __init__(self, channel_http: PartnerHttp) -> None:
        self.http = channel_http

    @activity.defn(name="push_shipment_to_channel")
    async def push_shipment_to_channel(self, request: PushShipmentInput) -> None:
        ship_back = SHIP_BACK.get(request.channel)
        if ship_back is None:
            raise ApplicationError(
                f"channel {request.channel} has no ship-back adapter connected",
                type="ChannelNotConnected",
                non_retryable=True,
            )
        await ship_back(self.http, request)
