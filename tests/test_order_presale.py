"""A presale order paid as deposit and balance (定金 + 尾款), in the time-skipping environment with
the real activities (SQLite; gateway, carrier and own store are the sandbox): the order waits for
both, ships after the balance, and an unpaid balance at its deadline cancels it with the deposit
kept or refunded as the rules say. Both payments are on the timeline and in the money ledger."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import ValidationError
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from activities.orders import receipt_detail
from api.app import create_app
from api.auth import issue_token
from api.stock import stock_of
from models.db import session_scope
from models.ledger import entries
from models.order import OrderStatus, workflow_id_for
from models.order_workflow import BALANCE_UNPAID, CancelOrder, ChannelUpdate, ConfirmPayment, ScanShipment
from models.rules import DEFAULT_RULES_FILE, RulesError, parse_rules
from models.tables import OrderEvent
from orderkit import finish, make_order, policy_of, running_worker, settings_for, submit, wait_until
from problemkit import code_of
from workers.scenarios import pay_at_gateway
from workflows.order import OrderWorkflow

TOTAL = 2 * 1999  # make_order's default lines: SKU-1 x 2


def presale_order(now: datetime | None = None, *, deposit: int = 1000, **extra):
    """Its balance due two days after `now`: the time-skipping server's time, which earlier tests of
    the module moved ahead by days."""
    return make_order([("SKU-1", 2)], presale={
        "deposit": deposit, "balance": TOTAL - deposit,
        "balance_due_by": ((now or datetime.now(UTC)) + timedelta(days=2)).isoformat()}, **extra)


async def ledger_of(db_url: str, order_id: str) -> list[tuple[str, str, int, str | None, str, str]]:
    async with session_scope(db_url) as session:
        return [(e.entry_id, e.direction, e.amount, e.reference, e.status, e.source)
                for e in await entries(session, order_id)]


async def events_of(db_url: str, order_id: str) -> list[tuple[str, str, dict]]:
    async with session_scope(db_url) as session:
        rows = await session.exec(OrderEvent.__table__.select().where(OrderEvent.order_id == order_id)
                                  .order_by(OrderEvent.seq))
        return [(row.status, row.event, row.detail) for row in rows]


async def refunds(sandbox_url: str, key: str) -> list[dict]:
    async with httpx.AsyncClient() as client:
        return (await client.get(f"{sandbox_url}/_sandbox/records", params={"kind": "refund", "key": key})
                ).json()["items"]


def refused_with(err: pytest.ExceptionInfo[WorkflowUpdateFailedError]) -> str | None:
    cause = err.value.cause
    return cause.type if isinstance(cause, ApplicationError) else None


# --- the plan ---------------------------------------------------------------------------


def test_the_parts_must_make_the_total_and_the_deadline_needs_its_zone():
    with pytest.raises(ValidationError) as wrong:
        make_order([("SKU-1", 2)], presale={"deposit": 1000, "balance": 1000,
                                            "balance_due_by": "2026-11-10T23:59:59+08:00"})
    assert [e["loc"] for e in wrong.value.errors()] == [("presale",)]
    assert "must make the order's total of 3998 fen" in wrong.value.errors()[0]["msg"]
    with pytest.raises(ValidationError) as naive:
        make_order([("SKU-1", 2)], presale={"deposit": 1000, "balance": 2998, "balance_due_by": "2026-11-10T23:59:59"})
    assert naive.value.errors()[0]["loc"] == ("presale", "balance_due_by")
    # The total counts shipping and discount.
    with pytest.raises(ValidationError):
        presale_order(shipping_fee=1000)
    shipped = make_order([("SKU-1", 2)], shipping_fee=1000, discount=500, presale={
        "deposit": 1000, "balance": TOTAL + 500 - 1000, "balance_due_by": "2026-11-10T23:59:59+08:00"})
    assert shipped.presale is not None and shipped.presale.balance == 3498


def test_the_rule_defaults_to_keeping_the_deposit_and_refuses_other_values():
    text = DEFAULT_RULES_FILE.read_text()
    assert parse_rules(text).presale_deposit_on_unpaid_balance == "keep"
    without = "\n".join(line for line in text.splitlines() if not line.startswith("presale_deposit_on_unpaid_balance"))
    assert parse_rules(without).presale_deposit_on_unpaid_balance == "keep"
    assert parse_rules(without + "\npresale_deposit_on_unpaid_balance: refund\n").presale_deposit_on_unpaid_balance == "refund"
    with pytest.raises(RulesError) as bad:
        parse_rules(without + "\npresale_deposit_on_unpaid_balance: half\n")
    assert "presale_deposit_on_unpaid_balance" in str(bad.value)


def test_the_receipt_entry_carries_the_plan_only_for_a_presale_order():
    assert receipt_detail(make_order()) == {"paid": False}
    assert receipt_detail(presale_order())["presale"]["deposit"] == 1000


# --- the workflow -----------------------------------------------------------------------


async def test_deposit_then_balance_ships_and_both_payments_are_recorded(ts_env, sqlite_url, sandbox_url):
    settings = settings_for(sqlite_url, sandbox_url)
    async with running_worker(ts_env.client, settings):
        decision, handle = await submit(ts_env.client, settings, presale_order(await ts_env.get_current_time()))
        assert decision.status == OrderStatus.AWAITING_PAYMENT
        with pytest.raises(WorkflowUpdateFailedError) as early:
            await handle.execute_update(OrderWorkflow.confirm_payment, ConfirmPayment(trade_no="B-1", part="balance"))
        assert refused_with(early) == "deposit_unpaid"
        with pytest.raises(WorkflowUpdateFailedError) as wrong:
            await handle.execute_update(OrderWorkflow.confirm_payment,
                                        ConfirmPayment(trade_no="D-1", part="deposit", amount=TOTAL))
        assert refused_with(wrong) == "part_amount_mismatch"

        deposit = await handle.execute_update(OrderWorkflow.confirm_payment,
                                              ConfirmPayment(trade_no="D-1", part="deposit", amount=1000))
        assert deposit.status == OrderStatus.AWAITING_PAYMENT and not deposit.paid
        assert deposit.presale.deposit.paid and deposit.presale.deposit.trade_no == "D-1"
        assert not deposit.presale.balance.paid
        again = await handle.execute_update(OrderWorkflow.confirm_payment,
                                            ConfirmPayment(trade_no="D-1", part="deposit"))  # a retried callback
        assert again.presale == deposit.presale
        with pytest.raises(WorkflowUpdateFailedError) as twice:
            await handle.execute_update(OrderWorkflow.confirm_payment, ConfirmPayment(trade_no="D-2", part="deposit"))
        assert refused_with(twice) == "part_already_paid"
        # Stock stays reserved while the balance is awaited.
        assert sum(w.reserved for w in (await stock_of(sqlite_url, "SKU-1")).warehouses) == 2
        await ts_env.sleep(timedelta(days=1))

        balance = await handle.execute_update(OrderWorkflow.confirm_payment, ConfirmPayment(trade_no="B-1"))
        assert balance.paid and balance.presale.balance.paid and balance.presale.balance.trade_no == "B-1"
        await wait_until(lambda: handle.query(OrderWorkflow.state), lambda s: s.status == OrderStatus.AWAITING_SCAN)
        await handle.execute_update(OrderWorkflow.scan_shipment, ScanShipment())
        result = await finish(ts_env, handle)

    assert result.status == OrderStatus.COMPLETED
    timeline = await events_of(sqlite_url, result.order_id)
    paid = [(status, event, detail) for status, event, detail in timeline if event in ("deposit_paid", "balance_paid")]
    assert paid == [
        ("AWAITING_PAYMENT", "deposit_paid", {"amount": 1000, "trade_no": "D-1", "confirmed_by": "api"}),
        ("FULFILLING", "balance_paid", {"amount": 2998, "trade_no": "B-1", "confirmed_by": "api"})]
    assert [event for _, event, _ in timeline].index("balance_paid") < [e for _, e, _ in timeline].index("waybill_printed")
    assert await ledger_of(sqlite_url, result.order_id) == [
        (f"in:{result.order_id}:deposit", "in", 1000, "D-1", "done", "deposit"),
        (f"in:{result.order_id}:balance", "in", 2998, "B-1", "done", "balance")]


async def test_unpaid_balance_cancels_and_the_deposit_is_kept_by_default(ts_env, sqlite_url, sandbox_url):
    settings = settings_for(sqlite_url, sandbox_url)
    async with running_worker(ts_env.client, settings):
        _, handle = await submit(ts_env.client, settings, presale_order(await ts_env.get_current_time()))
        await handle.execute_update(OrderWorkflow.confirm_payment, ConfirmPayment(trade_no="D-9", part="deposit"))
        result = await finish(ts_env, handle)  # the two days to the balance's deadline are skipped
    assert result.status == OrderStatus.CANCELLED and result.cancel_reason == BALANCE_UNPAID
    assert result.presale.deposit_on_unpaid_balance == "keep" and result.refund_no is None
    assert await refunds(sandbox_url, f"{result.order_id}-cancel") == []
    assert await ledger_of(sqlite_url, result.order_id) == [
        (f"in:{result.order_id}:deposit", "in", 1000, "D-9", "done", "deposit")]
    assert sum(w.reserved for w in (await stock_of(sqlite_url, "SKU-1")).warehouses) == 0


async def test_unpaid_balance_refunds_the_deposit_when_the_rules_say_so(ts_env, sqlite_url, sandbox_url):
    settings = settings_for(sqlite_url, sandbox_url)
    async with running_worker(ts_env.client, settings):
        _, handle = await submit(ts_env.client, settings, presale_order(await ts_env.get_current_time()),
                                 policy_of(settings, presale_deposit_on_unpaid_balance="refund"))
        deposit = await pay_at_gateway(sandbox_url, f"D-{uuid.uuid4().hex[:10]}", 1000)
        await handle.execute_update(OrderWorkflow.confirm_payment, ConfirmPayment(trade_no=deposit, part="deposit"))
        result = await finish(ts_env, handle)
    assert result.status == OrderStatus.CANCELLED and result.cancel_reason == BALANCE_UNPAID
    refunded = await refunds(sandbox_url, f"{result.order_id}-cancel")
    assert [(r["body"]["trade_no"], r["body"]["refund_amount"]) for r in refunded] == [(deposit, "10.00")]


async def test_a_cancel_after_the_deposit_refunds_the_deposit_only(ts_env, sqlite_url, sandbox_url):
    """Cancelled by the seller while the balance is awaited: what came in, the deposit, goes back."""
    settings = settings_for(sqlite_url, sandbox_url)
    async with running_worker(ts_env.client, settings):
        _, handle = await submit(ts_env.client, settings, presale_order(await ts_env.get_current_time()))
        deposit = await pay_at_gateway(sandbox_url, f"D-{uuid.uuid4().hex[:10]}", 1000)
        await handle.execute_update(OrderWorkflow.confirm_payment, ConfirmPayment(trade_no=deposit, part="deposit"))
        cancelled = await handle.execute_update(OrderWorkflow.cancel, CancelOrder(reason="sold out at the maker"))
        result = await finish(ts_env, handle)
    assert cancelled.status == result.status == OrderStatus.CANCELLED
    refunded = await refunds(sandbox_url, f"{result.order_id}-cancel")
    assert [(r["body"]["trade_no"], r["body"]["refund_amount"]) for r in refunded] == [(deposit, "10.00")]


async def test_a_channel_saying_the_whole_order_is_paid_pays_both_parts(ts_env, sqlite_url, sandbox_url):
    settings = settings_for(sqlite_url, sandbox_url)
    async with running_worker(ts_env.client, settings):
        _, handle = await submit(ts_env.client, settings, presale_order(await ts_env.get_current_time()))
        whole = await pay_at_gateway(sandbox_url, f"ALL-{uuid.uuid4().hex[:10]}", 3998)
        await handle.signal(OrderWorkflow.channel_update, ChannelUpdate(state="PAID", trade_no=whole))
        state = await wait_until(lambda: handle.query(OrderWorkflow.state),
                                 lambda s: s.status == OrderStatus.AWAITING_SCAN)
        assert state.paid and state.presale.deposit.paid and state.presale.balance.paid
        await handle.execute_update(OrderWorkflow.cancel, CancelOrder(reason="test over"))
        await finish(ts_env, handle)
    cancel = f"{state.order_id}-cancel"
    assert sorted((key, amount, ref) for key, _, amount, ref, _, _ in await ledger_of(sqlite_url, state.order_id)) == [
        (f"in:{state.order_id}:balance", 2998, whole), (f"in:{state.order_id}:deposit", 1000, whole),
        (f"out:{state.order_id}:{cancel}", 3998, cancel)]  # the cancel sent back both parts


async def test_unpaid_deposit_cancels_at_the_payment_deadline(ts_env, sqlite_url, sandbox_url):
    settings = settings_for(sqlite_url, sandbox_url)
    async with running_worker(ts_env.client, settings):
        _, handle = await submit(ts_env.client, settings, presale_order(await ts_env.get_current_time()),
                                 policy_of(settings, payment_timeout_s=1800))
        result = await finish(ts_env, handle)
    assert result.status == OrderStatus.CANCELLED and result.cancel_reason == "payment deadline passed"
    assert await ledger_of(sqlite_url, result.order_id) == []


async def test_a_part_named_for_an_order_paid_in_one_is_refused(ts_env, sqlite_url, sandbox_url):
    settings = settings_for(sqlite_url, sandbox_url)
    async with running_worker(ts_env.client, settings):
        _, handle = await submit(ts_env.client, settings, make_order())
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(OrderWorkflow.confirm_payment, ConfirmPayment(part="deposit"))
        assert refused_with(refused) == "not_presale"
        assert (await handle.query(OrderWorkflow.state)).presale is None
        result = await finish(ts_env, handle)
    assert result.status == OrderStatus.CANCELLED  # its payment deadline, as ever


async def test_a_presale_order_delivered_with_its_deposit_paid_awaits_the_balance(ts_env, sqlite_url, sandbox_url):
    """...and ships from its presale date, which comes after the balance."""
    settings = settings_for(sqlite_url, sandbox_url)
    now = await ts_env.get_current_time()
    order = presale_order(now, priority_tags=["presale"], ship_not_before=now + timedelta(days=3))
    order.presale = order.presale.model_copy(update={"deposit_paid": True, "deposit_trade_no": "TB-D"})
    async with running_worker(ts_env.client, settings):
        _, handle = await submit(ts_env.client, settings, order)
        state = await handle.query(OrderWorkflow.state)
        assert state.presale.deposit.paid and not state.presale.balance.paid
        paid = await handle.execute_update(OrderWorkflow.confirm_payment,
                                           ConfirmPayment(trade_no="TB-B", part="balance", amount=2998))
        assert paid.paid
        async with ts_env.time_skipping_unlocked():  # to the presale date
            await wait_until(lambda: handle.query(OrderWorkflow.state), lambda s: s.status == OrderStatus.AWAITING_SCAN)
        await handle.execute_update(OrderWorkflow.scan_shipment, ScanShipment())
        result = await finish(ts_env, handle)
    assert result.status == OrderStatus.COMPLETED
    events = [event for _, event, _ in await events_of(sqlite_url, result.order_id)]
    assert events.index("deposit_paid") < events.index("balance_paid") < events.index("awaiting_presale_date") \
        < events.index("waybill_printed")
    assert [(key, ref) for key, _, _, ref, _, _ in await ledger_of(sqlite_url, result.order_id)] == [
        (f"in:{result.order_id}:deposit", "TB-D"), (f"in:{result.order_id}:balance", "TB-B")]


# --- the API ----------------------------------------------------------------------------


async def test_the_api_takes_each_part_and_shows_both(ts_env, sqlite_url, sandbox_url):
    settings = settings_for(sqlite_url, sandbox_url)
    app = create_app(settings, migrate=False)
    app.state.temporal = ts_env.client
    headers = {"Authorization": f"Bearer {await issue_token(sqlite_url, 'channel')}"}
    order = presale_order(await ts_env.get_current_time())
    async with running_worker(ts_env.client, settings), \
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as api:
        posted = order.model_dump(mode="json", exclude={"replaces"})  # the hub's own field: no caller sends it
        created = await api.post("/v1/orders", json=posted, headers=headers)
        assert created.status_code == 201, created.text
        url = f"/v1/orders/{order.order_id}"
        uneven = posted | {"external_id": "UNEVEN"}
        uneven["presale"]["balance"] += 1
        refused = await api.post("/v1/orders", json=uneven, headers=headers)
        assert refused.status_code == 422 and [e["field"] for e in refused.json()["errors"]] == ["presale"]
        shown = (await api.get(url, headers=headers)).json()["presale"]
        assert shown["status"] == "awaiting_deposit"
        assert (shown["deposit"]["amount"], shown["balance"]["amount"]) == (1000, 2998)

        early = await api.post(f"{url}/payment", json={"part": "balance", "trade_no": "B-1"}, headers=headers)
        assert early.status_code == 409 and code_of(early) == "deposit_unpaid", early.text
        assert (await api.post(f"{url}/payment", json={"part": "deposit", "trade_no": "D-1"},
                               headers=headers)).status_code == 200
        shown = (await api.get(url, headers=headers)).json()["presale"]
        assert shown["status"] == "awaiting_balance"
        assert (shown["deposit"]["paid"], shown["deposit"]["trade_no"], shown["balance"]["paid"]) == (True, "D-1", False)
        assert (await api.post(f"{url}/payment", json={"part": "balance", "trade_no": "B-1", "amount": 2998},
                               headers=headers)).status_code == 200
        shown = await wait_until(lambda: api.get(url, headers=headers),
                                 lambda r: r.json()["presale"]["balance"]["paid"])
        assert shown.json()["presale"]["status"] == "paid" and shown.json()["paid"]
        bad = await api.post(f"{url}/payment", json={"part": "half"}, headers=headers)
        assert bad.status_code == 422 and [e["field"] for e in bad.json()["errors"]] == ["part"]
        plain = make_order()
        await api.post("/v1/orders", json=plain.model_dump(mode="json", exclude={"replaces"}), headers=headers)
        assert (await api.get(f"/v1/orders/{plain.order_id}", headers=headers)).json()["presale"] is None
        for order_id in (order.order_id, plain.order_id):  # leave nothing running on the module's clock
            await ts_env.client.get_workflow_handle(workflow_id_for(order_id)).execute_update(
                OrderWorkflow.cancel, CancelOrder(reason="test over"))
