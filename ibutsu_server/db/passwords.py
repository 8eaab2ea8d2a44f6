"""bcrypt password hashes, as Ibutsu Server stores them in ``users._password``."""

from __future__ import annotations

import os

import bcrypt
from flask import current_app, has_app_context

DEFAULT_ROUNDS = 12
ROUNDS_KEY = "BCRYPT_LOG_ROUNDS"
MAX_BYTES = 72


def _rounds() -> int:
    if has_app_context() and ROUNDS_KEY in current_app.config:
        return int(current_app.config[ROUNDS_KEY])
    return int(os.environ.get(ROUNDS_KEY, DEFAULT_ROUNDS))


def hash_password(password: str | bytes | None, rounds: int | None = None) -> str:
    """A bcrypt hash of ``password``.

    The cost is ``rounds``, else the app's ``BCRYPT_LOG_ROUNDS``, else the
    environment's, else 12.

    :raises TypeError: for anything but text or bytes (``None`` included).
    :raises ValueError: for a password over 72 bytes, which bcrypt would cut short.
    """
    if isinstance(password, str):
        password = password.encode("utf-8")
    if not isinstance(password, bytes):
        raise TypeError(f"A password must be text or bytes; got {type(password).__name__}.")
    if len(password) > MAX_BYTES:
        raise ValueError(
            f"A password may be at most {MAX_BYTES} bytes in UTF-8; got {len(password)}."
        )
    salt = bcrypt.gensalt(rounds=rounds or _rounds(), prefix=b"2b")
    return bcrypt.hashpw(password, salt).decode("ascii")


def password_matches(stored: str | None, password: str | bytes) -> bool:
    """Whether ``password`` matches the ``stored`` hash, in constant time.

    ``False`` when nothing is stored or what is stored is no bcrypt hash (users
    who log in through an identity provider).
    """
    if not stored:
        return False
    if isinstance(password, str):
        password = password.encode("utf-8")
    try:
        return bcrypt.checkpw(password, stored.encode("utf-8"))
    except (ValueError, TypeError):
        return False
