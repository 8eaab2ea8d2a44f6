"""The notes app's Alembic environment: it migrates on the connection the guard gives."""

from alembic import context

from example_app import db
from flask_migration_guard.alembic_env import run_on_given_connection

run_on_given_connection(context, db.metadata, version_table="notes_version")
