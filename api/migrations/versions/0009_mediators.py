"""mediators, their sessions and refresh tokens, mandates, delegated sessions

Revision ID: 0009_mediators
Revises: 0008_franceconnect
Create Date: 2026-12-01 12:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0009_mediators'
down_revision = '0008_franceconnect'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('mediators',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('organisation', sa.String(length=160), nullable=False),
    sa.Column('code', sa.String(length=8), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('must_change_password', sa.Boolean(), nullable=False),
    sa.Column('password_changed_at', sa.DateTime(), nullable=False),
    sa.Column('totp_secret', sa.LargeBinary(length=128), nullable=False),
    sa.Column('totp_last_step', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('disabled_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mediators')),
    sa.UniqueConstraint('code', name=op.f('uq_mediators_code')),
    sa.UniqueConstraint('email', name=op.f('uq_mediators_email'))
    )

    op.create_table('mediator_sessions',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('mediator_id', sa.String(length=32), nullable=False),
    sa.Column('amr', sa.JSON(), nullable=False),
    sa.Column('auth_time', sa.DateTime(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.Column('revoked_reason', sa.String(length=32), nullable=True),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.Column('user_agent', sa.String(length=256), nullable=True),
    sa.ForeignKeyConstraint(['mediator_id'], ['mediators.id'], name=op.f('fk_mediator_sessions_mediator_id_mediators'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mediator_sessions'))
    )
    with op.batch_alter_table('mediator_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mediator_sessions_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_mediator_sessions_mediator_id'), ['mediator_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_mediator_sessions_revoked_at'), ['revoked_at'], unique=False)

    op.create_table('mediator_refresh_tokens',
    sa.Column('token_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('session_id', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['session_id'], ['mediator_sessions.id'], name=op.f('fk_mediator_refresh_tokens_session_id_mediator_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_mediator_refresh_tokens'))
    )
    with op.batch_alter_table('mediator_refresh_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mediator_refresh_tokens_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_mediator_refresh_tokens_session_id'), ['session_id'], unique=False)

    op.create_table('mandates',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('account_id', sa.String(length=32), nullable=False),
    sa.Column('mediator_id', sa.String(length=32), nullable=False),
    sa.Column('scopes', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.Column('revoked_reason', sa.String(length=32), nullable=True),
    sa.Column('last_used_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_mandates_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['mediator_id'], ['mediators.id'], name=op.f('fk_mandates_mediator_id_mediators'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mandates'))
    )
    with op.batch_alter_table('mandates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mandates_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_mandates_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_mandates_mediator_id'), ['mediator_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_mandates_revoked_at'), ['revoked_at'], unique=False)

    op.create_table('delegated_sessions',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('mandate_id', sa.String(length=32), nullable=False),
    sa.Column('mediator_session_id', sa.String(length=32), nullable=False),
    sa.Column('account_id', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.Column('revoked_reason', sa.String(length=32), nullable=True),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.Column('user_agent', sa.String(length=256), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_delegated_sessions_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['mandate_id'], ['mandates.id'], name=op.f('fk_delegated_sessions_mandate_id_mandates'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['mediator_session_id'], ['mediator_sessions.id'], name=op.f('fk_delegated_sessions_mediator_session_id_mediator_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delegated_sessions'))
    )
    with op.batch_alter_table('delegated_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_delegated_sessions_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_delegated_sessions_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_delegated_sessions_mandate_id'), ['mandate_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_delegated_sessions_mediator_session_id'), ['mediator_session_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_delegated_sessions_revoked_at'), ['revoked_at'], unique=False)


def downgrade():
    with op.batch_alter_table('delegated_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_delegated_sessions_revoked_at'))
        batch_op.drop_index(batch_op.f('ix_delegated_sessions_mediator_session_id'))
        batch_op.drop_index(batch_op.f('ix_delegated_sessions_mandate_id'))
        batch_op.drop_index(batch_op.f('ix_delegated_sessions_expires_at'))
        batch_op.drop_index(batch_op.f('ix_delegated_sessions_account_id'))
    op.drop_table('delegated_sessions')

    with op.batch_alter_table('mandates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mandates_revoked_at'))
        batch_op.drop_index(batch_op.f('ix_mandates_mediator_id'))
        batch_op.drop_index(batch_op.f('ix_mandates_expires_at'))
        batch_op.drop_index(batch_op.f('ix_mandates_account_id'))
    op.drop_table('mandates')

    with op.batch_alter_table('mediator_refresh_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mediator_refresh_tokens_session_id'))
        batch_op.drop_index(batch_op.f('ix_mediator_refresh_tokens_expires_at'))
    op.drop_table('mediator_refresh_tokens')

    with op.batch_alter_table('mediator_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mediator_sessions_revoked_at'))
        batch_op.drop_index(batch_op.f('ix_mediator_sessions_mediator_id'))
        batch_op.drop_index(batch_op.f('ix_mediator_sessions_expires_at'))
    op.drop_table('mediator_sessions')

    op.drop_table('mediators')
