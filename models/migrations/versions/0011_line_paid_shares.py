"""line paid shares

`order_lines.paid_amount`: each line's share of what was paid for the goods (the channel's own, e.g.
Taobao `divide_order_fee`, else apportioned by list price), so a line refund pays back what the line
cost the buyer after the order's discount. Existing lines keep NULL (a refund apportions then).
`after_sales_tickets.shipping_refund`: the shipping fee a ticket refunds (once per order, by reason).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('paid_amount', sa.Integer(), nullable=True))
    with op.batch_alter_table('after_sales_tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('shipping_refund', sa.Integer(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('after_sales_tickets', schema=None) as batch_op:
        batch_op.drop_column('shipping_refund')
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.drop_column('paid_amount')
