"""recovery flows, counter codes; codes of a recovery flow (and of no account)

Revision ID: 0010_recovery
Revises: 0009_mediators
Create Date: 2026-12-01 14:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0010_recovery'
down_revision = '0009_mediators'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('recovery_flows',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('token_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('nir_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('account_id', sa.String(length=32), nullable=True),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('completed_at', sa.DateTime(), nullable=True),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.Column('user_agent', sa.String(length=256), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_recovery_flows_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_flows')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_recovery_flows_token_hash'))
    )
    with op.batch_alter_table('recovery_flows', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recovery_flows_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_recovery_flows_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index('ix_recovery_flows_nir_created', ['nir_hash', 'created_at'], unique=False)

    op.create_table('counter_codes',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('account_id', sa.String(length=32), nullable=False),
    sa.Column('code_hmac', sa.LargeBinary(length=32), nullable=False),
    sa.Column('agent_id', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.Column('voided_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_counter_codes_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_counter_codes'))
    )
    with op.batch_alter_table('counter_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_counter_codes_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_counter_codes_expires_at'), ['expires_at'], unique=False)

    with op.batch_alter_table('one_time_codes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recovery_flow_id', sa.String(length=32), nullable=True))
        batch_op.alter_column('account_id', existing_type=sa.String(length=32), nullable=True)
        batch_op.create_index(batch_op.f('ix_one_time_codes_recovery_flow_id'), ['recovery_flow_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_one_time_codes_recovery_flow_id_recovery_flows'), 'recovery_flows', ['recovery_flow_id'], ['id'], ondelete='CASCADE')


def downgrade():
    # Codes of unknown NIRs have no account: they go, as do every recovery's codes.
    op.execute("DELETE FROM one_time_codes WHERE recovery_flow_id IS NOT NULL OR account_id IS NULL")
    with op.batch_alter_table('one_time_codes', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_one_time_codes_recovery_flow_id_recovery_flows'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_one_time_codes_recovery_flow_id'))
        batch_op.alter_column('account_id', existing_type=sa.String(length=32), nullable=False)
        batch_op.drop_column('recovery_flow_id')

    with op.batch_alter_table('counter_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_counter_codes_expires_at'))
        batch_op.drop_index(batch_op.f('ix_counter_codes_account_id'))
    op.drop_table('counter_codes')

    with op.batch_alter_table('recovery_flows', schema=None) as batch_op:
        batch_op.drop_index('ix_recovery_flows_nir_created')
        batch_op.drop_index(batch_op.f('ix_recovery_flows_expires_at'))
        batch_op.drop_index(batch_op.f('ix_recovery_flows_account_id'))
    op.drop_table('recovery_flows')
