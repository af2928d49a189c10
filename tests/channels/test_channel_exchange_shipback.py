"""An exchange's parcel reaches the platform: the replacement order is the hub's own (the platform
never saw it), so its ship-back goes under the original order's external id, as one more parcel of
it, once however often retried. Shopify takes a parcel only against an open fulfillment order (a
Shopify exchange opens one through its returns flow); with none open, nothing is refused."""

from __future__ import annotations

import pytest
from temporalio.testing import ActivityEnvironment

from activities.channels import ADAPTERS
from models.db import session_scope
from models.tables import OrderRecord
from test_channel_shipback_stock import CHANNELS, new_order, new_shop, records, shipment


async def original_order(db_url: str, channel: str, shop: str, external_id: str) -> str:
    """The hub's record of the platform's order: the replacement names it in `replaces`."""
    order_id = f"{channel}:{shop}:{external_id}"
    async with session_scope(db_url) as session:
        session.add(OrderRecord(order_id=order_id, workflow_id=f"order-{order_id}", channel=channel, shop=shop,
                                external_id=external_id, status="COMPLETED", paid=True, buyer_name="B",
                                buyer_phone="13900000000", buyer_province="上海", buyer_city="上海市",
                                buyer_address="漕溪北路 88 号"))
    return order_id


@pytest.mark.parametrize("channel", CHANNELS)
async def test_an_exchange_parcel_is_pushed_under_the_original_order(sandbox, activities, sqlite_url, channel):
    shop = await new_shop(sandbox, sqlite_url, channel)
    external_id = await new_order(sandbox, channel, shop)
    original = await original_order(sqlite_url, channel, shop, external_id)
    env = ActivityEnvironment()
    await env.run(activities.push_shipment_to_channel, shipment(channel, shop, external_id))  # the original parcel
    replacement = f"{external_id}-X1a2b3c4d"
    exchange_parcel = shipment(channel, shop, replacement, order_id=f"{channel}:{shop}:{replacement}",
                               waybill_no="SF112233445566", replaces=original)
    for _ in range(2):  # a retried activity
        await env.run(activities.push_shipment_to_channel, exchange_parcel)

    order = (await sandbox.get(f"/_sandbox/platforms/{channel}/shops/{shop}/orders/{external_id}")).json()
    carrier = ADAPTERS[channel].carrier_codes["SF"]
    pushed = [r["body"] for r in await records(sandbox, "shipback", channel, shop)]
    if channel == "shopify":  # fulfilled by the first parcel, and no exchange opened another
        assert [b["waybill_no"] for b in pushed] == ["SF998877665544"]
        return
    assert [(b["external_id"], b["waybill_no"]) for b in pushed] == [
        (external_id, "SF998877665544"), (external_id, "SF112233445566")]
    assert order["shipments"] == [{"waybill_no": "SF998877665544", "carrier": carrier},
                                  {"waybill_no": "SF112233445566", "carrier": carrier}]
