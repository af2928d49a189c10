"""parcels are workflows

Parcel merging moved from a leader elected in the database (`open_parcels`, one row per open
parcel, joined by UPDATE and closed by DELETE) to a ParcelWorkflow per merge key and warehouse,
joined by signal-with-start. `open_parcels` goes; an order's claim in `parcel_members` now names
the parcel's workflow (`parcel_workflow_id`) instead of a leading order, with the role `joined` or
`alone`. Existing claims stay as they are: any claim means nobody waits for that order any more.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table('open_parcels')
    with op.batch_alter_table('parcel_members', schema=None) as batch_op:
        batch_op.drop_index('ix_parcel_members_leader_order_id')
        batch_op.alter_column('leader_order_id', new_column_name='parcel_workflow_id',
                              existing_type=sa.String(length=100), existing_nullable=False)
    op.create_index('ix_parcel_members_parcel_workflow_id', 'parcel_members', ['parcel_workflow_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_parcel_members_parcel_workflow_id', table_name='parcel_members')
    with op.batch_alter_table('parcel_members', schema=None) as batch_op:
        batch_op.alter_column('parcel_workflow_id', new_column_name='leader_order_id',
                              existing_type=sa.String(length=100), existing_nullable=False)
    op.create_index('ix_parcel_members_leader_order_id', 'parcel_members', ['leader_order_id'], unique=False)
    op.create_table(
        'open_parcels',
        sa.Column('merge_key', sa.String(length=64), nullable=False),
        sa.Column('warehouse', sa.String(length=32), nullable=False),
        sa.Column('leader_order_id', sa.String(length=100), nullable=False),
        sa.Column('closes_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('members', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('merge_key', 'warehouse'),
    )
