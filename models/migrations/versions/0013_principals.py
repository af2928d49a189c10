"""principals

Every token belongs to a principal {id, name, role, channel?, shop?, expires_at?, revoked_at?}: one per
person and per integration (models/principals.py). Each row of `api_tokens` becomes a principal with the
same hash, so every token issued before keeps working: named by its label, or `legacy-<role>` without
one; the dev stack's tokens (label "dev stack") become `dev-<role>`, the names `make dev` gives its
principals. Downgrade turns principals back into role tokens: scope, expiry and revocation are lost,
so a revoked principal's token is dropped rather than made valid again.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

import secrets

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

api_tokens = sa.table(
    'api_tokens',
    sa.column('token_hash', sa.String), sa.column('role', sa.String), sa.column('label', sa.String),
    sa.column('created_at', sa.DateTime(timezone=True)),
)
principals = sa.table(
    'principals',
    sa.column('id', sa.String), sa.column('name', sa.String), sa.column('role', sa.String),
    sa.column('token_hash', sa.String), sa.column('created_at', sa.DateTime(timezone=True)),
    sa.column('revoked_at', sa.DateTime(timezone=True)), sa.column('created_by', sa.String),
)


def _name(role: str, label: str) -> str:
    if label == 'dev stack':
        return f'dev-{role}'
    return label or f'legacy-{role}'


def upgrade() -> None:
    op.create_table('principals',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('shop', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('principals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_principals_token_hash'), ['token_hash'], unique=True)

    rows = op.get_bind().execute(sa.select(api_tokens).order_by(api_tokens.c.created_at)).all()
    if rows:
        op.bulk_insert(principals, [
            {'id': 'p_' + secrets.token_urlsafe(8)[:10], 'name': _name(row.role, row.label or '')[:100],
             'role': row.role, 'token_hash': row.token_hash, 'created_at': row.created_at,
             'created_by': 'migration 0013'}
            for row in rows
        ])

    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_tokens_role'))
    op.drop_table('api_tokens')


def downgrade() -> None:
    op.create_table('api_tokens',
    sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('label', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('token_hash')
    )
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_tokens_role'), ['role'], unique=False)

    # A role token has no scope and no expiry: a scoped principal's token would see every shop, an
    # expiring one would never expire. Only unscoped, unexpiring, unrevoked principals go back.
    full = sa.table('principals', sa.column('name', sa.String), sa.column('role', sa.String),
                    sa.column('token_hash', sa.String), sa.column('created_at', sa.DateTime(timezone=True)),
                    sa.column('channel', sa.String), sa.column('expires_at', sa.DateTime(timezone=True)),
                    sa.column('revoked_at', sa.DateTime(timezone=True)))
    rows = op.get_bind().execute(sa.select(full).where(
        full.c.channel.is_(None), full.c.expires_at.is_(None), full.c.revoked_at.is_(None))).all()
    if rows:
        op.bulk_insert(api_tokens, [
            {'token_hash': row.token_hash, 'role': row.role, 'label': row.name, 'created_at': row.created_at}
            for row in rows
        ])

    with op.batch_alter_table('principals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_principals_token_hash'))
    op.drop_table('principals')
