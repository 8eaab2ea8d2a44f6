"""Alembic environment of a test scenario: migrates the connection the guard hands it."""

from alembic import context

from flask_migration_guard.alembic_env import run_on_given_connection

run_on_given_connection(context)
