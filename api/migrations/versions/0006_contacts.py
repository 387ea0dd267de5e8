"""contacts (email, mobile, trusted person) and one-time codes for every channel

Revision ID: 0006_contacts
Revises: 0005_outbox_sms
Create Date: 2026-12-08 14:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0006_contacts'
down_revision = '0005_outbox_sms'
branch_labels = None
depends_on = None


def upgrade():
    # Existing accounts keep their address; an account may now have none.
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.alter_column('email', existing_type=sa.String(length=254), nullable=True)
        batch_op.add_column(sa.Column('email_verified_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('phone', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('phone_verified_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('trusted_email', sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column('trusted_name', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('trusted_email_verified_at', sa.DateTime(), nullable=True))
        # The resend cooldown now belongs to each sign-in (its latest code), not the account.
        batch_op.drop_column('last_code_sent_at')

    # Codes live 15 minutes: those of sign-ins under way are not carried over (the person
    # presses « Envoyer le code » again).
    op.drop_table('email_codes')
    op.create_table('one_time_codes',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('account_id', sa.String(length=32), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('code_hmac', sa.LargeBinary(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.Column('voided_at', sa.DateTime(), nullable=True),
    sa.Column('transaction_id', sa.String(length=32), nullable=True),
    sa.Column('session_id', sa.String(length=32), nullable=True),
    sa.Column('contact_value', sa.String(length=254), nullable=True),
    sa.Column('contact_name', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_one_time_codes_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['sessions.id'], name=op.f('fk_one_time_codes_session_id_sessions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['transaction_id'], ['login_transactions.id'], name=op.f('fk_one_time_codes_transaction_id_login_transactions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_one_time_codes'))
    )
    with op.batch_alter_table('one_time_codes', schema=None) as batch_op:
        batch_op.create_index('ix_one_time_codes_account_created', ['account_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_one_time_codes_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_one_time_codes_session_id'), ['session_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_one_time_codes_transaction_id'), ['transaction_id'], unique=False)


def downgrade():
    with op.batch_alter_table('one_time_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_one_time_codes_transaction_id'))
        batch_op.drop_index(batch_op.f('ix_one_time_codes_session_id'))
        batch_op.drop_index(batch_op.f('ix_one_time_codes_expires_at'))
        batch_op.drop_index('ix_one_time_codes_account_created')
    op.drop_table('one_time_codes')
    op.create_table('email_codes',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('transaction_id', sa.String(length=32), nullable=False),
    sa.Column('account_id', sa.String(length=32), nullable=False),
    sa.Column('code_hmac', sa.LargeBinary(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.Column('voided_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_email_codes_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['transaction_id'], ['login_transactions.id'], name=op.f('fk_email_codes_transaction_id_login_transactions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_email_codes'))
    )
    with op.batch_alter_table('email_codes', schema=None) as batch_op:
        batch_op.create_index('ix_email_codes_account_created', ['account_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_email_codes_transaction_id'), ['transaction_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_email_codes_expires_at'), ['expires_at'], unique=False)

    # An account without an address cannot go back: the downgrade refuses rather than guess.
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_code_sent_at', sa.DateTime(), nullable=True))
        batch_op.drop_column('trusted_email_verified_at')
        batch_op.drop_column('trusted_name')
        batch_op.drop_column('trusted_email')
        batch_op.drop_column('phone_verified_at')
        batch_op.drop_column('phone')
        batch_op.drop_column('email_verified_at')
        batch_op.alter_column('email', existing_type=sa.String(length=254), nullable=False)
