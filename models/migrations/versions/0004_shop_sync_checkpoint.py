"""shop sync checkpoint

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('shops') as batch:
        batch.add_column(sa.Column('sync_cursor', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('last_synced_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('last_sync_error', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True))
        batch.add_column(sa.Column('orders_pulled', sa.Integer(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('shops') as batch:
        batch.drop_column('orders_pulled')
        batch.drop_column('last_sync_error')
        batch.drop_column('last_synced_at')
        batch.drop_column('sync_cursor')
