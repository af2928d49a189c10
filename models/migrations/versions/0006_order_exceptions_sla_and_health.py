"""order exceptions, SLA breaches, order health and parcel merging

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('buyer_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column('device_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column('exception_tags', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('health_score', sa.Integer(), nullable=False, server_default='100'))
        batch_op.add_column(sa.Column('health_reasons', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('merge_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_orders_buyer_key'), ['buyer_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_device_key'), ['device_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_merge_key'), ['merge_key'], unique=False)

    op.create_table('open_parcels',
    sa.Column('merge_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('warehouse', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('leader_order_id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('closes_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('members', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('merge_key', 'warehouse')
    )
    op.create_table('parcel_members',
    sa.Column('order_id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('leader_order_id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('lines', sa.JSON(), nullable=False),
    sa.Column('joined_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('order_id')
    )
    with op.batch_alter_table('parcel_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_parcel_members_leader_order_id'), ['leader_order_id'], unique=False)

    op.create_table('order_exceptions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('tag', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('severity', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('team', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('raised_seq', sa.Integer(), nullable=False),
    sa.Column('raised_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('resolution', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.ForeignKeyConstraint(['order_id'], ['orders.order_id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('order_id', 'tag', 'raised_seq', name='uq_order_exception')
    )
    with op.batch_alter_table('order_exceptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_exceptions_order_id'), ['order_id'], unique=False)
        batch_op.create_index('ix_order_exceptions_open', ['resolved_at', 'team'], unique=False)

    op.create_table('sla_breaches',
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('order_id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('stage', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('team', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('audience', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('breached_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('detail', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    with op.batch_alter_table('sla_breaches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sla_breaches_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sla_breaches_breached_at'), ['breached_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('sla_breaches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sla_breaches_breached_at'))
        batch_op.drop_index(batch_op.f('ix_sla_breaches_order_id'))
    op.drop_table('sla_breaches')
    with op.batch_alter_table('order_exceptions', schema=None) as batch_op:
        batch_op.drop_index('ix_order_exceptions_open')
        batch_op.drop_index(batch_op.f('ix_order_exceptions_order_id'))
    op.drop_table('order_exceptions')
    with op.batch_alter_table('parcel_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_parcel_members_leader_order_id'))
    op.drop_table('parcel_members')
    op.drop_table('open_parcels')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_orders_merge_key'))
        batch_op.drop_index(batch_op.f('ix_orders_device_key'))
        batch_op.drop_index(batch_op.f('ix_orders_buyer_key'))
        for column in ('merge_key', 'health_reasons', 'health_score', 'exception_tags', 'device_key', 'buyer_key'):
            batch_op.drop_column(column)
