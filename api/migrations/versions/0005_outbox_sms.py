"""the SMS outbox, delivered like mail

Revision ID: 0005_outbox_sms
Revises: 0004_known_devices
Create Date: 2026-12-08 10:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0005_outbox_sms'
down_revision = '0004_known_devices'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('outbox_sms',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('to', sa.String(length=16), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.Column('last_error', sa.String(length=200), nullable=True),
    sa.Column('provider_message_id', sa.String(length=100), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_sms'))
    )
    with op.batch_alter_table('outbox_sms', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_sms_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index('ix_outbox_sms_status_created', ['status', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_sms_to'), ['to'], unique=False)


def downgrade():
    with op.batch_alter_table('outbox_sms', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_sms_to'))
        batch_op.drop_index('ix_outbox_sms_status_created')
        batch_op.drop_index('ix_outbox_sms_due')
    op.drop_table('outbox_sms')
