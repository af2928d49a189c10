"""After-sales API contract: opening is idempotent, bad input changes nothing and says why (404,
409, 422 with the field), roles decide who may approve (403), a closed ticket refuses (409), the
return parcel is found by its waybill, and the stats add up."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from api.app import create_app
from api.auth import ROLES, issue_token
from models.db import session_scope
from models.order_workflow import CancelOrder
from models.principals import principal_by_token
from models.tables import AfterSalesTicketRecord, QuarantinedPayload, utcnow
from orderkit import finish, running_worker, settings_for, wait_until
from problemkit import code_of
from ticketkit import order_at, settle_tickets
from workflows.order import OrderWorkflow


@pytest.fixture
def ts_env(own_clock_env):
    """A clock of each test's own: these tests move it by days."""
    return own_clock_env


@pytest.fixture
async def hub(sqlite_url, sandbox_url, ts_env):
    settings = settings_for(sqlite_url, sandbox_url)
    app = create_app(settings, migrate=False)
    app.state.temporal = ts_env.client
    tokens = {role: await issue_token(sqlite_url, role) for role in ROLES}
    async with running_worker(ts_env.client, settings), \
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        client.tokens, client.settings, client.env = tokens, settings, ts_env  # type: ignore[attr-defined]
        yield client
        await settle_tickets(ts_env, sqlite_url)


def as_(hub, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {hub.tokens[role]}"}


async def open_ticket(hub, role: str = "channel", **body) -> httpx.Response:
    return await hub.post("/v1/after-sales", json=body, headers=as_(hub, role))


async def ticket(hub, ticket_id: str) -> dict:
    response = await hub.get(f"/v1/after-sales/{ticket_id}", headers=as_(hub, "operator"))
    response.raise_for_status()
    return response.json()


async def until_status(hub, ticket_id: str, *statuses: str) -> dict:
    """Polls the read model in real time (the clock stays still: no deadline passes meanwhile)."""
    return await wait_until(lambda: ticket(hub, ticket_id), lambda t: t["status"] in statuses, attempts=400)


async def tickets_of(db_url: str) -> int:
    async with session_scope(db_url) as session:
        return await session.scalar(select(func.count()).select_from(AfterSalesTicketRecord))


async def test_the_same_request_returns_the_same_ticket(hub):
    order, _ = await order_at(hub.env, hub.settings, [("SKU-1", 2)], delivered=True)
    body = {"order_id": order.order_id, "type": "refund_only", "reason": "quality",
            "lines": [{"sku": "SKU-1", "quantity": 1}], "request_id": "req-1"}
    first = await open_ticket(hub, **body)
    assert first.status_code == 201, first.text
    again = await open_ticket(hub, **body)
    assert again.status_code == 200 and again.json()["ticket_id"] == first.json()["ticket_id"]
    other = await open_ticket(hub, **{**body, "request_id": "req-2"})
    assert other.status_code == 201 and other.json()["ticket_id"] != first.json()["ticket_id"]
    done = await until_status(hub, first.json()["ticket_id"], "REFUNDED")
    assert done["refund"]["amount"] == 1999 and done["approvals"][0]["rule"] == "small_refund"
    assert [e["event"] for e in done["timeline"]][:2] == ["opened", "auto_approved"]
    await until_status(hub, other.json()["ticket_id"], "REFUNDED")


@pytest.mark.parametrize("body, status, error, field", [
    ({"order_id": "own_store:default:NOPE", "type": "refund_only", "reason": "quality"}, 404, "order_not_found", "order_id"),
    ({"type": "refund_only", "reason": "quality", "lines": [{"sku": "SKU-9", "quantity": 1}]}, 422,
     "validation_failed", "lines[0].sku"),
    ({"type": "refund_only", "reason": "quality", "lines": [{"sku": "SKU-1", "quantity": 3}]}, 422,
     "validation_failed", "lines[0].quantity"),
    ({"type": "partial_refund", "reason": "price_adjustment"}, 422, "validation_failed", "amount"),
    ({"type": "exchange", "reason": "size", "amount": 100}, 422, "validation_failed", "amount"),
    ({"type": "return_and_refund", "reason": "size", "lines": [{"sku": "SKU-1", "quantity": 1, "exchange_sku": "SKU-2"}]},
     422, "validation_failed", "lines[0].exchange_sku"),  # only an exchange ships another sku
    ({"type": "exchange", "reason": "size", "lines": [{"sku": "SKU-1", "quantity": 1, "exchange_sku": "SKU-9"}]},
     422, "validation_failed", "lines[0].exchange_sku"),  # no such sku
    ({"type": "refund_only", "reason": "quality", "amount": 4001}, 422, "refund_exceeds_paid", "amount"),
    ({"type": "refund", "reason": "quality"}, 422, "validation_failed", "type"),
    ({"type": "refund_only", "reason": ""}, 422, "validation_failed", "reason"),
])
async def test_bad_request_changes_nothing_and_names_the_field(hub, body, status, error, field):
    order, _ = await order_at(hub.env, hub.settings, [("SKU-1", 2)], delivered=True)
    response = await open_ticket(hub, **{"order_id": order.order_id, **body})
    assert response.status_code == status, response.text
    answer = response.json()
    assert code_of(answer) == error and field in [e["field"] for e in answer["errors"]]
    assert await tickets_of(hub.settings.db_url) == 0
    if status == 422:  # kept with its reason
        async with session_scope(hub.settings.db_url) as session:
            kept = (await session.execute(select(QuarantinedPayload))).scalars().all()
        assert len(kept) == 1 and kept[0].source.endswith("/v1/after-sales")


async def test_refunds_across_tickets_never_exceed_what_was_paid(hub):
    order, _ = await order_at(hub.env, hub.settings, [("SKU-1", 2)], delivered=True)  # paid 39.98 yuan
    first = await open_ticket(hub, order_id=order.order_id, type="partial_refund", reason="price_adjustment",
                              amount=3000)
    assert first.status_code == 201
    over = await open_ticket(hub, order_id=order.order_id, type="partial_refund", reason="late", amount=999,
                             request_id="second")
    assert over.status_code == 422 and code_of(over) == "refund_exceeds_paid"
    assert "998" in over.json()["errors"][0]["reason"]
    fits = await open_ticket(hub, order_id=order.order_id, type="partial_refund", reason="late", amount=998,
                             request_id="third")
    assert fits.status_code == 201


async def test_unshipped_and_cancelled_orders_are_refused_with_the_reason(hub):
    order, _ = await order_at(hub.env, hub.settings, [("SKU-1", 1)], delivered=False)
    early = await open_ticket(hub, order_id=order.order_id, type="return_and_refund", reason="quality")
    assert early.status_code == 409 and code_of(early) == "not_shipped"
    part = await open_ticket(hub, order_id=order.order_id, type="refund_only", reason="quality",
                             lines=[{"sku": "SKU-1", "quantity": 1}], amount=100)
    assert part.status_code == 201  # the whole order, named line by line

    cancelled, cancel_handle = await order_at(hub.env, hub.settings, [("SKU-2", 1)], delivered=False)
    await cancel_handle.execute_update(OrderWorkflow.cancel, CancelOrder(reason="buyer asked"))
    await finish(hub.env, cancel_handle)
    refused = await open_ticket(hub, order_id=cancelled.order_id, type="refund_only", reason="quality")
    assert refused.status_code == 409 and code_of(refused) == "order_cancelled"


async def test_roles_approve_only_at_their_tier_and_a_closed_ticket_refuses(hub):
    order, _ = await order_at(hub.env, hub.settings, [("SKU-1", 3)], delivered=True)  # 59.97 yuan
    opened = await open_ticket(hub, order_id=order.order_id, type="refund_only", reason="not_as_described")
    assert opened.status_code == 201 and opened.json()["status"] == "AWAITING_APPROVAL"
    ticket_id = opened.json()["ticket_id"]
    url = f"/v1/after-sales/{ticket_id}"

    assert (await hub.post(f"{url}/approve", headers=as_(hub, "operator"))).status_code == 403  # not an approver
    wrong_tier = await hub.post(f"{url}/approve", headers=as_(hub, "finance"))
    assert wrong_tier.status_code == 403 and code_of(wrong_tier) == "role_not_allowed"
    no_comment = await hub.post(f"{url}/reject", json={}, headers=as_(hub, "support_lead"))
    assert no_comment.status_code == 422 and no_comment.json()["errors"][0]["field"] == "comment"

    spoofed = await hub.post(f"{url}/approve", json={"approver": "sl-3", "comment": "ok"},
                             headers=as_(hub, "support_lead"))
    assert spoofed.status_code == 422 and [e["field"] for e in spoofed.json()["errors"]] == ["approver"]
    approved = await hub.post(f"{url}/approve", json={"comment": "ok"}, headers=as_(hub, "support_lead"))
    assert approved.status_code == 200, approved.text
    done = await until_status(hub, ticket_id, "REFUNDED")
    assert [(a["role"], a["decision"], a["comment"]) for a in done["approvals"]] == [("support_lead", "approve", "ok")]
    lead, _ = await principal_by_token(hub.settings.db_url, hub.tokens["support_lead"], utcnow())
    assert done["approvals"][0]["approver"] == lead.actor  # the caller, never a body field
    trail = (await hub.get("/v1/audit", params={"object_type": "ticket", "object_id": ticket_id, "actor": lead.id},
                           headers=as_(hub, "admin"))).json()["items"]
    by_outcome = {(e["action"], e["outcome"]): e for e in trail}
    assert by_outcome["approve", "ok"]["before"] == {"status": "AWAITING_APPROVAL"}
    assert by_outcome["approve", "ok"]["after"]["status"] in ("APPROVED", "REFUNDING", "REFUNDED")
    assert ("approve", "refused") in by_outcome  # the spoofed one: refused, and kept
    assert done["approvals"][0]["at"] and done["first_response_at"]

    late = await hub.post(f"{url}/approve", headers=as_(hub, "support_lead"))
    assert late.status_code == 409 and late.json()["ticket_status"] == "REFUNDED"
    assert (await hub.post("/v1/after-sales/as-nope/approve", headers=as_(hub, "admin"))).status_code == 404
    # the order's own cancel would pay a second time: refused while it has tickets
    cancel = await hub.post(f"/v1/orders/{order.order_id}/cancel", headers=as_(hub, "admin"))
    assert cancel.status_code == 409 and cancel.json()["ticket_ids"] == [ticket_id]


async def test_return_scanned_by_waybill_inspected_listed_and_counted(hub):
    order, _ = await order_at(hub.env, hub.settings, [("SKU-1", 2)], delivered=True)
    opened = await open_ticket(hub, order_id=order.order_id, type="return_and_refund", reason="no_reason",
                               goods_intact=True)
    ticket_id = opened.json()["ticket_id"]
    assert opened.json()["status"] in ("APPROVED", "AWAITING_RETURN")  # a no-reason return within 7 days
    await until_status(hub, ticket_id, "AWAITING_RETURN")
    shipped = await hub.post(f"/v1/after-sales/{ticket_id}/return-shipped", json={"waybill_no": "YT7788"},
                             headers=as_(hub, "channel"))
    assert shipped.status_code == 200, shipped.text
    found = await hub.get("/v1/after-sales", params={"waybill": "YT7788"}, headers=as_(hub, "operator"))
    assert [t["ticket_id"] for t in found.json()["items"]] == [ticket_id]
    unknown = await hub.post("/v1/after-sales/return-received", json={"waybill_no": "YT0000"},
                             headers=as_(hub, "operator"))
    assert unknown.status_code == 404
    scanned = await hub.post("/v1/after-sales/return-received", json={"waybill_no": "YT7788"},
                             headers=as_(hub, "operator"))
    assert scanned.status_code == 200 and scanned.json()["status"] == "AWAITING_INSPECTION"
    too_many = await hub.post(f"/v1/after-sales/{ticket_id}/inspection", json={"passed": True, "accepted_quantity": 5},
                              headers=as_(hub, "operator"))
    assert too_many.status_code == 422 and code_of(too_many) == "invalid_quantity"
    inspected = await hub.post(f"/v1/after-sales/{ticket_id}/inspection", json={"passed": True, "accepted_quantity": 1},
                               headers=as_(hub, "operator"))
    assert inspected.status_code == 200
    done = await until_status(hub, ticket_id, "REFUNDED")
    assert done["refund"]["amount"] == 1999 and done["accepted_quantity"] == 1

    listing = await hub.get("/v1/after-sales", params={"status": "REFUNDED", "type": "return_and_refund"},
                            headers=as_(hub, "operator"))
    assert listing.json()["total"] == 1 and listing.json()["items"][0]["ticket_id"] == ticket_id
    stats = (await hub.get("/v1/after-sales/stats", headers=as_(hub, "finance"))).json()
    assert stats["total"] == 1 and stats["by_reason"] == {"no_reason": 1}
    assert stats["by_type"] == {"return_and_refund": 1} and stats["auto_approval_rate"] == 1.0
    assert stats["cycle_time"]["count"] == 1 and stats["cycle_time"]["p95_s"] >= 0
    assert stats["refunded_amount"] == 1999
    detail = (await hub.get(f"/v1/orders/{order.order_id}", headers=as_(hub, "operator"))).json()
    assert detail["after_sales"] == [{"ticket_id": ticket_id, "type": "return_and_refund", "status": "REFUNDED"}]
