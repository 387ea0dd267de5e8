"""FranceConnect+: linked identities, sign-in attempts and their one-time secrets, the
id_token kept for the provider's sign-out, and the acr of a session

Revision ID: 0008_franceconnect
Revises: 0007_passkeys
Create Date: 2026-12-02 10:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0008_franceconnect'
down_revision = '0007_passkeys'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('acr', sa.String(length=16), nullable=True))

    op.create_table('franceconnect_links',
    sa.Column('account_id', sa.String(length=32), nullable=False),
    sa.Column('sub_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('pivot_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('linked_at', sa.DateTime(), nullable=False),
    sa.Column('last_used_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_franceconnect_links_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('account_id', name=op.f('pk_franceconnect_links')),
    sa.UniqueConstraint('sub_hash', name=op.f('uq_franceconnect_links_sub_hash'))
    )

    op.create_table('franceconnect_attempts',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('nonce_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('return_to', sa.String(length=512), nullable=False),
    sa.Column('code_challenge', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('sub_hash', sa.LargeBinary(length=32), nullable=True),
    sa.Column('pivot_hash', sa.LargeBinary(length=32), nullable=True),
    sa.Column('acr', sa.String(length=16), nullable=True),
    sa.Column('given_name', sa.String(length=256), nullable=True),
    sa.Column('family_name', sa.String(length=256), nullable=True),
    sa.Column('id_token', sa.LargeBinary(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_franceconnect_attempts'))
    )
    with op.batch_alter_table('franceconnect_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_franceconnect_attempts_expires_at'), ['expires_at'], unique=False)

    op.create_table('franceconnect_secrets',
    sa.Column('secret_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('attempt_id', sa.String(length=32), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['attempt_id'], ['franceconnect_attempts.id'], name=op.f('fk_franceconnect_secrets_attempt_id_franceconnect_attempts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('secret_hash', name=op.f('pk_franceconnect_secrets'))
    )
    with op.batch_alter_table('franceconnect_secrets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_franceconnect_secrets_attempt_id'), ['attempt_id'], unique=False)

    op.create_table('franceconnect_sessions',
    sa.Column('session_id', sa.String(length=32), nullable=False),
    sa.Column('id_token', sa.LargeBinary(), nullable=False),
    sa.Column('post_logout_redirect_uri', sa.String(length=512), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['sessions.id'], name=op.f('fk_franceconnect_sessions_session_id_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('session_id', name=op.f('pk_franceconnect_sessions'))
    )


def downgrade():
    op.drop_table('franceconnect_sessions')
    with op.batch_alter_table('franceconnect_secrets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_franceconnect_secrets_attempt_id'))
    op.drop_table('franceconnect_secrets')
    with op.batch_alter_table('franceconnect_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_franceconnect_attempts_expires_at'))
    op.drop_table('franceconnect_attempts')
    op.drop_table('franceconnect_links')
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.drop_column('acr')
