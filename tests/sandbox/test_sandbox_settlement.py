"""The sandbox's settlement bills and gateway statement: the marketplaces' own orders paid on the day are on the
bill with commission and T+N, overrides change what the bill says, the shop's credentials are checked; the
gateway's statement lists the day's payments (the gateway's own, read duck-typed, and planted ones) and the
refunds on them, and a trade override hides or changes one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sandbox import settlement

CREDS = {"app_key": "sandbox-jd", "access_token": "sandbox-token-jd"}


def today() -> str:
    return datetime.now(UTC).astimezone(settlement.BEIJING).date().isoformat()


async def test_a_marketplaces_paid_orders_are_on_its_bill_and_overrides_change_them(sandbox):
    created = (await sandbox.client.post("/_sandbox/platforms/jd/shops/default/orders",
                                         json={"count": 2, "paid": True})).json()["created"]
    bill = await sandbox.client.get("/settlement/jd/default/bills", params={"date": today(), **CREDS})
    assert bill.status_code == 200, bill.text
    data = bill.json()["jingdong_settlement_bill_query_responce"]["result"]["data"]
    assert sorted(row["orderId"] for row in data) == sorted(created)
    lines = (await sandbox.client.get("/_sandbox/settlement/jd/shops/default/lines", params={"date": today()})).json()
    first = lines["items"][0]
    assert first["commission"] == (first["paid"] * settlement.COMMISSION_BP["jd"] + 5000) // 10000
    assert first["settled"] == first["paid"] - first["commission"]
    day = datetime.fromisoformat(today()).date()
    assert first["settle_date"] == (day + timedelta(days=settlement.SETTLEMENT_DAYS["jd"])).isoformat()

    hidden, changed = created
    await sandbox.client.put(f"/_sandbox/settlement/jd/shops/default/orders/{hidden}", json={"hidden": True})
    await sandbox.client.put(f"/_sandbox/settlement/jd/shops/default/orders/{changed}",
                             json={"closed": True, "extra_refund": 100})
    data = (await sandbox.client.get("/settlement/jd/default/bills", params={"date": today(), **CREDS})).json()[
        "jingdong_settlement_bill_query_responce"]["result"]["data"]
    [row] = data
    assert (row["orderId"], row["orderStatus"], row["refundAmount"]) == (changed, "TRADE_CANCELED", "1.00")


async def test_a_bill_needs_the_shops_credentials_and_a_date(sandbox):
    wrong = await sandbox.client.get("/settlement/jd/default/bills",
                                     params={"date": today(), "app_key": "sandbox-jd", "access_token": "nope"})
    assert wrong.status_code == 401
    assert (await sandbox.client.get("/settlement/jd/nobody/bills", params={"date": today(), **CREDS})).status_code == 404
    assert (await sandbox.client.get("/settlement/jd/default/bills", params={"date": "junk", **CREDS})).status_code == 400


@dataclass
class Payment:  # the gateway's own payment record, as the gateway keeps it once it records payments
    trade_no: str
    out_trade_no: str
    amount: Decimal
    paid_at: datetime


async def test_the_gateway_statement_lists_the_days_trades_and_their_refunds(sandbox):
    paid_at = datetime(2026, 11, 30, 2, tzinfo=UTC)
    sandbox.app.state.gateway.payments = {"G1": Payment("G1", "own-1", Decimal("19.90"), paid_at)}
    await sandbox.client.post("/_sandbox/settlement/gateway/payments",
                              json={"trade_no": "P1", "out_trade_no": "own-2", "amount": 500,
                                    "paid_at": paid_at.isoformat()})
    await sandbox.client.post("/_sandbox/settlement/gateway/payments",
                              json={"trade_no": "P2", "amount": 700, "paid_at": paid_at.isoformat()})
    await sandbox.client.post("/_sandbox/settlement/gateway/refunds",
                              json={"trade_no": "P1", "out_request_no": "R1", "amount": 200})
    await sandbox.client.put("/_sandbox/settlement/gateway/trades/P2", json={"hidden": True})
    url = (await sandbox.client.get("/gateway/bill/downloadurl", params={"bill_date": "2026-11-30"})).json()[
        "alipay_data_dataservice_bill_downloadurl_query_response"]["bill_download_url"]
    items = (await sandbox.client.get(url)).json()["items"]
    assert sorted((i["business_type"], i["trade_no"], i["amount"]) for i in items) == [
        ("交易", "G1", "19.90"), ("交易", "P1", "5.00"), ("退款", "P1", "2.00")]
    other = (await sandbox.client.get("/gateway/bill/download", params={"bill_date": "2026-11-29"})).json()
    assert other["items"] == []
    await sandbox.client.post("/_sandbox/reset")
    assert settlement.SettlementState() == sandbox.app.state.settlement
