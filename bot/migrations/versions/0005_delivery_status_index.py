"""an index for the scheduler's reap of rows left 'sending'

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 12:40:00
"""

from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_deliveries_status_lease', 'deliveries', ['status', 'lease_until'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_deliveries_status_lease', table_name='deliveries')
