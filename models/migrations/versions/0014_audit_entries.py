"""audit entries

The audit trail (models/audit.py): one row per state-changing request and per admin or CLI action. Append-only
at the database: a trigger refuses every UPDATE, on SQLite and on PostgreSQL. DELETE stays possible: the
retention purge (PurgeAuditWorkflow) removes entries past `audit_retention_days`.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-10
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

REFUSAL = "audit entries are append-only: UPDATE refused"


def upgrade() -> None:
    op.create_table(
        'audit_entries',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('actor_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column('actor_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('object_type', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column('object_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column('before', sa.JSON(), nullable=True),
        sa.Column('after', sa.JSON(), nullable=True),
        sa.Column('ip', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column('request_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sqlite_autoincrement=True,
    )
    op.create_index('ix_audit_entries_at', 'audit_entries', ['at'], unique=False)
    op.create_index('ix_audit_entries_actor_id', 'audit_entries', ['actor_id'], unique=False)
    op.create_index('ix_audit_entries_object', 'audit_entries', ['object_type', 'object_id'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f"""
            CREATE FUNCTION audit_entries_refuse_update() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '{REFUSAL}' USING ERRCODE = 'restrict_violation';
            END $$""")
        op.execute("CREATE TRIGGER audit_entries_append_only BEFORE UPDATE ON audit_entries "
                   "FOR EACH ROW EXECUTE FUNCTION audit_entries_refuse_update()")
    else:
        op.execute(f"CREATE TRIGGER audit_entries_append_only BEFORE UPDATE ON audit_entries "
                   f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END")


def downgrade() -> None:
    op.execute("DROP TRIGGER audit_entries_append_only" +
               (" ON audit_entries" if op.get_bind().dialect.name == 'postgresql' else ""))
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP FUNCTION audit_entries_refuse_update()")
    op.drop_index('ix_audit_entries_object', table_name='audit_entries')
    op.drop_index('ix_audit_entries_actor_id', table_name='audit_entries')
    op.drop_index('ix_audit_entries_at', table_name='audit_entries')
    op.drop_table('audit_entries')
