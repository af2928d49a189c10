"""The Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL, and
carry existing rows across."""

from __future__ import annotations

import asyncio

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

import models.tables  # noqa: F401  (registers the tables)
from models.db import alembic_config, get_engine, is_sqlite, read_scope, session_scope
from models.tables import (
    OrderEvent,
    OrderException,
    OrderRecord,
    Reservation,
    ShipmentRecord,
    Sku,
    SlaBreach,
    WebhookEvent,
    utcnow,
)


async def test_migrations_match_models(db_url):
    url = db_url  # migrated to head by the fixture

    def diff(connection):  # type: ignore[no-untyped-def]
        return compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)

    async with get_engine(url).connect() as connection:
        assert await connection.run_sync(diff) == []


async def test_read_scope_reads_without_holding_a_transaction(db_url):
    """A single-statement read (read_scope) sees what was committed, and on PostgreSQL runs without a
    transaction around it: each statement its own, no BEGIN/COMMIT round trips."""
    async with session_scope(db_url) as session:
        session.add(Sku(code="SKU-READ", name="read me", created_at=utcnow()))
    async with read_scope(db_url) as session:
        assert await session.scalar(select(Sku.name).where(Sku.code == "SKU-READ")) == "read me"
        if not is_sqlite(db_url):
            first = await session.scalar(text("SELECT now()"))
            await asyncio.sleep(0.01)
            assert await session.scalar(text("SELECT now()")) > first  # now() is fixed within a transaction
    async with session_scope(db_url) as session:  # the pool's connections write in transactions again
        first = await session.scalar(text("SELECT now()" if not is_sqlite(db_url) else "SELECT 1"))
        assert await session.scalar(text("SELECT now()" if not is_sqlite(db_url) else "SELECT 1")) == first


async def migrate(url: str, revision: str, *, down: bool = False) -> None:
    step = command.downgrade if down else command.upgrade
    await asyncio.to_thread(step, alembic_config(url), revision)


def order_row(channel: str, shop: str, external_id: str, order_id: str) -> OrderRecord:
    return OrderRecord(order_id=order_id, workflow_id=f"order-{order_id}", channel=channel, shop=shop,
                       external_id=external_id, status="AWAITING_SCAN", buyer_name="x", buyer_phone="13800138000",
                       buyer_province="上海", buyer_city="上海市", buyer_address="x", created_at=utcnow(),
                       updated_at=utcnow())


async def order_ids(url: str) -> dict[str, list]:
    """Every column naming an order at revision 0007, as (table.column) -> sorted values (plain SQL:
    later revisions change some of these tables)."""
    columns = {"orders.order_id": "orders.order_id", "orders.workflow_id": "orders.workflow_id",
               "order_lines": "order_lines.order_id", "order_events": "order_events.order_id",
               "reservations": "reservations.order_id", "shipments": "shipments.order_id",
               "shipments.shipment_id": "shipments.shipment_id", "order_exceptions": "order_exceptions.order_id",
               "sla_breaches": "sla_breaches.order_id", "parcel_members": "parcel_members.order_id",
               "parcel_members.leader": "parcel_members.leader_order_id",
               "open_parcels.leader": "open_parcels.leader_order_id",
               "webhook_events": "webhook_events.order_id", "after_sales_tickets": "after_sales_tickets.order_id",
               "after_sales_tickets.replacement": "after_sales_tickets.replacement_order_id"}
    async with read_scope(url) as session:
        found = {}
        for name, column in columns.items():
            table = column.split(".")[0]
            rows = await session.execute(text(f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL"))
            found[name] = sorted(rows.scalars())
        return found


async def test_order_ids_are_rewritten_to_include_the_shop_and_back(db_url):
    """0007: every order id and every column naming one moves to {channel}:{shop}:{external_id};
    workflow and shipment ids stay (running workflows hold them). Downgrade turns them back."""
    await migrate(db_url, "0006", down=True)
    at = utcnow()
    own, jd = "own_store-M1", "jd-M.2-x"  # the old form: {channel}-{external_id}
    async with session_scope(db_url) as session:
        session.add_all([order_row("own_store", "default", "M1", own), order_row("jd", "jd-1", "M.2-x", jd)])
        await session.flush()
        session.add_all([
            OrderEvent(order_id=own, seq=1, status="RECEIVED", event="received", at=at),
            Reservation(order_id=own, sku="SKU-1", warehouse="WH-SH", quantity=1),
            ShipmentRecord(shipment_id=f"{own}-WH-SH", order_id=own, warehouse="WH-SH", carrier="SF", status="PRINTED"),
            OrderException(order_id=jd, tag="address_suspect", severity="hold", team="cs", reason="r", raised_seq=1,
                           raised_at=at),
            SlaBreach(key=f"{jd}:review:1:alert", order_id=jd, kind="review", stage="alert", team="cs", audience="cs",
                      due_at=at, breached_at=at),
            WebhookEvent(channel="own_store", shop="default", event_id="e-1", order_id=own),
        ])
        await session.flush()
        # Tables later revisions add columns to, as they were before them: plain SQL.
        await session.execute(text("INSERT INTO order_lines (order_id, line_no, sku, quantity, unit_price) "
                                   "VALUES (:o, 1, 'SKU-1', 1, 100)"), {"o": own})
        await session.execute(text(
            "INSERT INTO after_sales_tickets (ticket_id, workflow_id, order_id, channel, shop, type, reason, status, "
            "lines, requested_amount, claim_amount, before_shipping, approvals, replacement_order_id, created_at, "
            "updated_at) VALUES (:t, :w, :o, 'own_store', 'default', 'exchange', 'size', 'EXCHANGED', '[]', 0, 0, "
            ":f, '[]', :r, :at, :at)"),
            {"t": f"as-{own}-0123456789", "w": f"after-sales-as-{own}-0123456789", "o": own, "f": False, "r": jd,
             "at": at})
        # The parcel tables as they were before 0008 (ParcelWorkflow): plain SQL.
        await session.execute(text("INSERT INTO parcel_members (order_id, role, leader_order_id, lines, joined_at) "
                                   "VALUES (:o, 'follower', :l, '[]', :at)"), {"o": jd, "l": own, "at": at})
        await session.execute(text("INSERT INTO open_parcels (merge_key, warehouse, leader_order_id, closes_at, "
                                   "members) VALUES (:k, 'WH-SH', :l, :at, 0)"), {"k": "m" * 64, "l": own, "at": at})

    await migrate(db_url, "0007")
    own_new, jd_new = "own_store:default:M1", "jd:jd-1:M.2-x"
    ids = await order_ids(db_url)
    assert ids == {
        "orders.order_id": [jd_new, own_new], "orders.workflow_id": [f"order-{jd}", f"order-{own}"],
        "order_lines": [own_new], "order_events": [own_new], "reservations": [own_new], "shipments": [own_new],
        "shipments.shipment_id": [f"{own}-WH-SH"], "order_exceptions": [jd_new], "sla_breaches": [jd_new],
        "parcel_members": [jd_new], "parcel_members.leader": [own_new], "open_parcels.leader": [own_new],
        "webhook_events": [own_new], "after_sales_tickets": [own_new], "after_sales_tickets.replacement": [jd_new],
    }
    # The same external id in another shop of the channel is another order; in the same shop it is not.
    async with session_scope(db_url) as session:
        session.add(order_row("own_store", "other", "M1", "own_store:other:M1"))
    with pytest.raises(IntegrityError):
        async with session_scope(db_url) as session:
            session.add(order_row("own_store", "default", "M1", "own_store:default:M1-again"))

    with pytest.raises(RuntimeError, match="own_store/M1"):  # the old ids cannot tell the two shops apart
        await migrate(db_url, "0006", down=True)
    async with session_scope(db_url) as session:
        await session.delete(await session.get(OrderRecord, "own_store:other:M1"))
    await migrate(db_url, "0006", down=True)
    back = await order_ids(db_url)
    assert back["orders.order_id"] == [jd, own] and back["order_lines"] == [own]
    assert back["parcel_members"] == [jd] and back["after_sales_tickets.replacement"] == [jd]
    await migrate(db_url, "head")


async def test_an_order_id_too_long_with_its_shop_stops_the_migration(db_url):
    await migrate(db_url, "0006", down=True)
    async with session_scope(db_url) as session:
        session.add(order_row("own_store", "s" * 64, "e" * 40, "own_store-" + "e" * 40))
    with pytest.raises(RuntimeError, match="longer than 100"):
        await migrate(db_url, "head")
    async with session_scope(db_url) as session:
        await session.execute(text("DELETE FROM orders"))
    await migrate(db_url, "head")
