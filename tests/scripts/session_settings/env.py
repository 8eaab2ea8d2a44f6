"""Alembic environment of a test scenario: migrates the connection the guard hands it."""

from alembic import context

from ibutsu_server.guard.alembic_env import run_on_given_connection

run_on_given_connection(context)
