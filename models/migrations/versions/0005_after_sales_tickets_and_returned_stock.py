"""after-sales tickets and returned stock

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('returned_units',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sqlmodel.sql.sqltypes.AutoString(length=140), nullable=False),
    sa.Column('sku', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('warehouse', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('accepted', sa.Integer(), nullable=False),
    sa.Column('damaged', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('quantity > 0', name='ck_returned_quantity'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ticket_id', 'sku', 'warehouse', name='uq_returned_units')
    )
    with op.batch_alter_table('returned_units', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_returned_units_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('after_sales_tickets',
    sa.Column('ticket_id', sqlmodel.sql.sqltypes.AutoString(length=140), nullable=False),
    sa.Column('workflow_id', sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
    sa.Column('order_id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('shop', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('type', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('lines', sa.JSON(), nullable=False),
    sa.Column('requested_amount', sa.Integer(), nullable=False),
    sa.Column('claim_amount', sa.Integer(), nullable=False),
    sa.Column('goods_intact', sa.Boolean(), nullable=True),
    sa.Column('before_shipping', sa.Boolean(), nullable=False),
    sa.Column('tier', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('auto_rule', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('approvals', sa.JSON(), nullable=False),
    sa.Column('refund', sa.JSON(), nullable=True),
    sa.Column('return_waybill', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('accepted_quantity', sa.Integer(), nullable=True),
    sa.Column('hold_reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('replacement_order_id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('first_response_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('claim_amount >= 0', name='ck_after_sales_claim'),
    sa.ForeignKeyConstraint(['order_id'], ['orders.order_id'], ),
    sa.PrimaryKeyConstraint('ticket_id')
    )
    with op.batch_alter_table('after_sales_tickets', schema=None) as batch_op:
        batch_op.create_index('ix_after_sales_status_type', ['status', 'type'], unique=False)
        batch_op.create_index(batch_op.f('ix_after_sales_tickets_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_after_sales_tickets_return_waybill'), ['return_waybill'], unique=False)

    op.create_table('after_sales_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sqlmodel.sql.sqltypes.AutoString(length=140), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('event', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['after_sales_tickets.ticket_id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ticket_id', 'seq', name='uq_after_sales_event_seq')
    )
    with op.batch_alter_table('after_sales_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_after_sales_events_ticket_id'), ['ticket_id'], unique=False)

    with op.batch_alter_table('stock_levels', schema=None) as batch_op:
        batch_op.add_column(sa.Column('awaiting_inspection', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('damaged', sa.Integer(), nullable=False, server_default='0'))
        batch_op.create_check_constraint('ck_stock_awaiting_inspection', 'awaiting_inspection >= 0')
        batch_op.create_check_constraint('ck_stock_damaged', 'damaged >= 0')



def downgrade() -> None:
    with op.batch_alter_table('stock_levels', schema=None) as batch_op:
        batch_op.drop_constraint('ck_stock_damaged', type_='check')
        batch_op.drop_constraint('ck_stock_awaiting_inspection', type_='check')
        batch_op.drop_column('damaged')
        batch_op.drop_column('awaiting_inspection')

    with op.batch_alter_table('after_sales_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_after_sales_events_ticket_id'))

    op.drop_table('after_sales_events')
    with op.batch_alter_table('after_sales_tickets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_after_sales_tickets_return_waybill'))
        batch_op.drop_index(batch_op.f('ix_after_sales_tickets_order_id'))
        batch_op.drop_index('ix_after_sales_status_type')

    op.drop_table('after_sales_tickets')
    with op.batch_alter_table('returned_units', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_returned_units_ticket_id'))

    op.drop_table('returned_units')
