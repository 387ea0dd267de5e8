"""passkey sign-in: passkey flows, challenges bound to them, discoverable authenticators

Revision ID: 0007_passkeys
Revises: 0006_contacts
Create Date: 2026-12-08 10:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0007_passkeys'
down_revision = '0006_contacts'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('passkey_flows',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('token_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('completed_at', sa.DateTime(), nullable=True),
    sa.Column('device_id', sa.String(length=32), nullable=True),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.Column('user_agent', sa.String(length=256), nullable=True),
    sa.ForeignKeyConstraint(['device_id'], ['known_devices.id'], name=op.f('fk_passkey_flows_device_id_known_devices'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_passkey_flows')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_passkey_flows_token_hash'))
    )
    with op.batch_alter_table('passkey_flows', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_passkey_flows_expires_at'), ['expires_at'], unique=False)

    # A passkey challenge has no account yet: account_id becomes optional.
    with op.batch_alter_table('webauthn_challenges', schema=None) as batch_op:
        batch_op.alter_column('account_id', existing_type=sa.String(length=32), nullable=True)
        batch_op.add_column(sa.Column('passkey_flow_id', sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f('ix_webauthn_challenges_passkey_flow_id'), ['passkey_flow_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_webauthn_challenges_passkey_flow_id_passkey_flows'), 'passkey_flows', ['passkey_flow_id'], ['id'], ondelete='CASCADE')

    # Existing devices never said whether they made a discoverable credential: NULL.
    with op.batch_alter_table('authenticators', schema=None) as batch_op:
        batch_op.add_column(sa.Column('discoverable', sa.Boolean(), nullable=True))


def downgrade():
    with op.batch_alter_table('authenticators', schema=None) as batch_op:
        batch_op.drop_column('discoverable')

    # Passkey challenges have no account: they cannot outlive the downgrade.
    op.execute("DELETE FROM webauthn_challenges WHERE account_id IS NULL")
    with op.batch_alter_table('webauthn_challenges', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_webauthn_challenges_passkey_flow_id_passkey_flows'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_webauthn_challenges_passkey_flow_id'))
        batch_op.drop_column('passkey_flow_id')
        batch_op.alter_column('account_id', existing_type=sa.String(length=32), nullable=False)

    with op.batch_alter_table('passkey_flows', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_passkey_flows_expires_at'))
    op.drop_table('passkey_flows')
