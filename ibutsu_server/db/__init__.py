"""The Flask-SQLAlchemy object shared by the models, the app factory and the migrations."""

from __future__ import annotations

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Declarative base of every Ibutsu model."""


db = SQLAlchemy(model_class=Base)

__all__ = ["Base", "db"]
