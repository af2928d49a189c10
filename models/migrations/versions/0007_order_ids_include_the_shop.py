"""order ids include the shop

An order's id was `{channel}-{external_id}`: two shops of one channel with the same external id
were one order (the second answered as "seen before", its buyer and lines dropped), and a webhook
signed by one shop could reach another shop's order. It is now `{channel}:{shop}:{external_id}`
(models.order.order_id_for), unique per (channel, shop, external_id).

Every existing order is rewritten to the new id, with every column that names it: reservations,
order_lines, order_events, shipments, order_exceptions, sla_breaches, parcel_members (order and
leader), open_parcels (leader), webhook_events, after_sales_tickets (order and replacement order).
The orders rows are copied under the new id, the references moved, the old rows deleted: the
foreign keys hold at every statement. An id that would be longer than the columns (100) stops
the migration, naming it.

Not rewritten, because they are ids of their own that running workflows hold: workflow ids
(`orders.workflow_id` keeps `order-{old id}`, so the API's actions still reach a running order),
shipment ids, ticket ids and refund request numbers that were derived from an old order id, and
ids written into timeline details or quarantine resolutions. A workflow started before this
migration still carries its old order id and writes its steps under it, which no longer has a
row: finish or terminate the running orders before migrating (a dev project at 0.1.0: there is
no production data to carry across).

Downgrade turns the ids back, and refuses when two shops of a channel share an external id (the
old form cannot tell them apart).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

MAX_ORDER_ID = 100
NEW_ID = "(channel || ':' || shop || ':' || external_id)"
OLD_ID = "(channel || '-' || external_id)"
# Every column holding an order id, besides orders.order_id itself.
REFERENCES = (
    ("reservations", "order_id"), ("order_lines", "order_id"), ("order_events", "order_id"),
    ("shipments", "order_id"), ("order_exceptions", "order_id"), ("sla_breaches", "order_id"),
    ("parcel_members", "order_id"), ("parcel_members", "leader_order_id"), ("open_parcels", "leader_order_id"),
    ("webhook_events", "order_id"), ("after_sales_tickets", "order_id"),
    ("after_sales_tickets", "replacement_order_id"),
)


def upgrade() -> None:
    bind = op.get_bind()
    too_long = bind.execute(sa.text(
        f"SELECT order_id, {NEW_ID} FROM orders WHERE length({NEW_ID}) > {MAX_ORDER_ID}")).fetchall()
    if too_long:
        raise RuntimeError(f"order ids longer than {MAX_ORDER_ID} characters with the shop: "
                           + ", ".join(f"{old} -> {new}" for old, new in too_long[:10]))
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_constraint('uq_order_channel_external_id', type_='unique')
    _rewrite(bind, NEW_ID)
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_order_channel_shop_external_id', ['channel', 'shop', 'external_id'])


def downgrade() -> None:
    bind = op.get_bind()
    shared = bind.execute(sa.text(
        "SELECT channel, external_id FROM orders GROUP BY channel, external_id HAVING count(*) > 1")).fetchall()
    if shared:
        raise RuntimeError("two shops of one channel share these external ids; the old order ids cannot tell "
                           "them apart: " + ", ".join(f"{channel}/{external_id}" for channel, external_id in shared[:10]))
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_constraint('uq_order_channel_shop_external_id', type_='unique')
    _rewrite(bind, OLD_ID)
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_order_channel_external_id', ['channel', 'external_id'])


def _rewrite(bind: sa.engine.Connection, new_id: str) -> None:
    """Each order not already under `new_id` (an SQL expression over its columns): copied under it,
    every reference moved to it, the old row deleted."""
    columns = [c["name"] for c in sa.inspect(bind).get_columns("orders") if c["name"] != "order_id"]
    listed = ", ".join(columns)
    moving = f"order_id <> {new_id}"
    bind.execute(sa.text(f"INSERT INTO orders (order_id, {listed}) SELECT {new_id}, {listed} FROM orders WHERE {moving}"))
    for table, column in REFERENCES:
        bind.execute(sa.text(
            f"UPDATE {table} SET {column} = (SELECT {new_id} FROM orders WHERE orders.order_id = {table}.{column}) "
            f"WHERE {column} IN (SELECT order_id FROM orders WHERE {moving})"))
    bind.execute(sa.text(f"DELETE FROM orders WHERE {moving}"))
