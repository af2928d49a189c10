"""platform after-sales requests

A refund or return the buyer opens on a marketplace becomes a ticket through the channel sync: the ticket
row keeps the platform's own request id (the platform is answered by it) and the request's status there.
One ticket per request: unique (channel, shop, platform_request_id); the hub's own tickets leave both NULL.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('after_sales_tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('platform_request_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column('platform_status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
    op.create_index('uq_after_sales_platform_request', 'after_sales_tickets',
                    ['channel', 'shop', 'platform_request_id'], unique=True)


def downgrade() -> None:
    op.drop_index('uq_after_sales_platform_request', table_name='after_sales_tickets')
    with op.batch_alter_table('after_sales_tickets', schema=None) as batch_op:
        batch_op.drop_column('platform_status')
        batch_op.drop_column('platform_request_id')
