"""money ledger

One row per movement of an order's money (models/ledger.py): received from the buyer, refunded to
the buyer, by route (gateway or the marketplace's own refund API) and reference. Existing paid
orders get their receipt, and existing tickets' claims become refund claims (done when refunded),
so the first refund checked against the ledger sees what was already paid out.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

import hashlib

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('money_entries',
    sa.Column('entry_id', sqlmodel.sql.sqltypes.AutoString(length=180), nullable=False),
    sa.Column('order_id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('shop', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('external_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('direction', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('route', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('reference', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('amount', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('ticket_id', sqlmodel.sql.sqltypes.AutoString(length=140), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount >= 0', name='ck_money_entries_amount'),
    sa.CheckConstraint("direction IN ('in', 'out')", name='ck_money_entries_direction'),
    sa.PrimaryKeyConstraint('entry_id')
    )
    with op.batch_alter_table('money_entries', schema=None) as batch_op:
        batch_op.create_index('ix_money_entries_order', ['order_id', 'direction'], unique=False)
        batch_op.create_index('ix_money_entries_day', ['channel', 'created_at'], unique=False)

    route = "CASE WHEN o.channel = 'own_store' THEN 'gateway' ELSE 'channel' END"
    op.execute(f"""
        INSERT INTO money_entries (entry_id, order_id, channel, shop, external_id, direction, route, reference,
                                   amount, status, source, created_at, updated_at)
        SELECT 'in:' || o.order_id || ':' || 'payment', o.order_id, o.channel, o.shop, o.external_id, 'in', {route},
               COALESCE(o.trade_no, o.external_id), o.total_amount, 'done', 'payment', o.updated_at, o.updated_at
        FROM orders o WHERE o.paid""")
    # Tickets' claims: keyed as models.ledger keys them (the refund request number, at most 64 characters).
    conn = op.get_bind()
    tickets = conn.execute(sa.text(
        "SELECT t.ticket_id, t.claim_amount, t.status, t.created_at, t.updated_at, o.order_id, o.channel, o.shop, "
        "o.external_id FROM after_sales_tickets t JOIN orders o ON o.order_id = t.order_id "
        "WHERE t.claim_amount > 0")).mappings().all()
    for t in tickets:
        request_no = t["ticket_id"] if len(t["ticket_id"]) <= 64 else \
            f"as-{hashlib.sha256(t['ticket_id'].encode()).hexdigest()[:40]}"
        conn.execute(sa.text(
            "INSERT INTO money_entries (entry_id, order_id, channel, shop, external_id, direction, route, reference, "
            "amount, status, source, ticket_id, created_at, updated_at) VALUES (:entry_id, :order_id, :channel, "
            ":shop, :external_id, 'out', :route, :reference, :amount, :status, 'ticket', :ticket_id, :created_at, "
            ":updated_at)"),
            dict(entry_id=f"out:{t['order_id']}:{request_no}", order_id=t["order_id"], channel=t["channel"],
                 shop=t["shop"], external_id=t["external_id"],
                 route="gateway" if t["channel"] == "own_store" else "channel", reference=request_no,
                 amount=t["claim_amount"], status="done" if t["status"] == "REFUNDED" else "claimed",
                 ticket_id=t["ticket_id"], created_at=t["created_at"], updated_at=t["updated_at"]))


def downgrade() -> None:
    with op.batch_alter_table('money_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_money_entries_day')
        batch_op.drop_index('ix_money_entries_order')
    op.drop_table('money_entries')
