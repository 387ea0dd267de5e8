"""known devices, throttles for every kind of failure, sessions tied to their authenticator

Revision ID: 0004_known_devices
Revises: f2cb7bf74360
Create Date: 2026-12-01 11:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0004_known_devices'
down_revision = 'f2cb7bf74360'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('throttles',
    sa.Column('key', sa.LargeBinary(length=32), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('lock_count', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_throttles'))
    )
    with op.batch_alter_table('throttles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_throttles_updated_at'), ['updated_at'], unique=False)
    # Lock state is short-lived: rows keyed the old way are not carried over.
    op.drop_table('login_throttles')

    op.create_table('known_devices',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('account_id', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_used_at', sa.DateTime(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_known_devices_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_known_devices'))
    )
    with op.batch_alter_table('known_devices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_known_devices_account_id'), ['account_id'], unique=False)

    with op.batch_alter_table('login_transactions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('device_id', sa.String(length=32), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_login_transactions_device_id_known_devices'), 'known_devices', ['device_id'], ['id'], ondelete='SET NULL')

    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('authenticator_id', sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f('ix_sessions_authenticator_id'), ['authenticator_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_sessions_authenticator_id_authenticators'), 'authenticators', ['authenticator_id'], ['id'], ondelete='SET NULL')


def downgrade():
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_sessions_authenticator_id_authenticators'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_sessions_authenticator_id'))
        batch_op.drop_column('authenticator_id')

    with op.batch_alter_table('login_transactions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_login_transactions_device_id_known_devices'), type_='foreignkey')
        batch_op.drop_column('device_id')

    with op.batch_alter_table('known_devices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_known_devices_account_id'))
    op.drop_table('known_devices')

    op.create_table('login_throttles',
    sa.Column('nir_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('lock_count', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('nir_hash', name=op.f('pk_login_throttles'))
    )
    with op.batch_alter_table('login_throttles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_throttles_updated_at'), ['updated_at'], unique=False)
    with op.batch_alter_table('throttles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_throttles_updated_at'))
    op.drop_table('throttles')
