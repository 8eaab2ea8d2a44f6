"""Database URLs in messages: passwords masked, ambiguous ``@`` refused."""

from __future__ import annotations

import re

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from flask_migration_guard.errors import GuardConfigError

AMBIGUOUS_EXPECTED = "a URL with at most one '@' after '://', the one before the host"
AMBIGUOUS_FIX = (
    "percent-encode each '@' in the password as '%40',"
    " as in 'postgresql://user:p%40ss@host:5432/db'"
)
# The scheme and the slashes after it, in a URL that may be too broken to parse.
_SCHEME = re.compile(r"^[A-Za-z][\w.+-]*:/*")


def _scheme_and_rest(url: str) -> tuple[str, str]:
    """``url`` cut after its scheme and the slashes that follow it (``postgresql://``)."""
    match = _SCHEME.match(url)
    scheme = match.group(0) if match else ""
    return scheme, url[len(scheme):]


def is_ambiguous(url: str) -> bool:
    """Whether more than one ``@`` follows the scheme of ``url``, so that where its
    password ends is unclear.

    SQLAlchemy ends the password at the first ``@``: the rest of it would become the
    host, port or database, and show in messages and reach the DNS. A URL without a
    host part (``sqlite:////path``) holds no password and is never ambiguous.
    """
    if url.partition("://")[2].startswith("/"):
        return False
    return _scheme_and_rest(url)[1].count("@") > 1


def _masked_userinfo(url: str) -> tuple[str, str]:
    """``url`` with all between its scheme and its last ``@`` replaced by ``***``, and that part.

    Internal: may change.
    """
    scheme, rest = _scheme_and_rest(url)
    userinfo, _, host_on = rest.rpartition("@")
    return f"{scheme}***@{host_on}", userinfo


def _masked_text(url: str) -> tuple[str, str]:
    """``url`` as written, even too broken for SQLAlchemy to parse, with its password
    replaced by ``***``; and the password as written (``""`` if none).

    Masks too much rather than too little: the user name too when it holds an ``@``,
    and after a ``:`` that no ``@`` follows, what may be a password with its host missing.
    Internal: may change.
    """
    if is_ambiguous(url):
        return _masked_userinfo(url)
    scheme, rest = _scheme_and_rest(url)
    userinfo, at, host_on = rest.rpartition("@")
    if not at:
        authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
        host, colon, secret = authority.partition(":")
        if not (colon and secret) or secret.isdigit():
            return url, ""
        return f"{scheme}{host}:***{rest[len(authority):]}", secret
    user, colon, password = userinfo.partition(":")
    if not (colon and password):
        return url, ""
    return f"{scheme}{user}:***@{host_on}", password


def mask_url(url: str | URL) -> str:
    """``url`` as text fit for a message or a log line: its password replaced by ``***``.

    When the URL is ambiguous (see :func:`is_ambiguous`), all between its scheme
    and its last ``@`` is replaced, the user name included.

    :param url: a URL, parsed or not; a string SQLAlchemy cannot parse is masked too.
    """
    if isinstance(url, str):
        if is_ambiguous(url):
            return _masked_userinfo(url)[0]
        try:
            parsed = make_url(url)
        except (ArgumentError, ValueError):
            return _masked_text(url)[0]
    else:
        parsed = url
    # Rendering quotes an "@" in the user name, password, database and query: one left
    # beside the last comes from a host that holds part of a password.
    rendered = parsed.render_as_string(hide_password=True)
    return _masked_userinfo(rendered)[0] if is_ambiguous(rendered) else rendered


def ambiguous_url_error(url: str, key: str = "SQLALCHEMY_DATABASE_URI") -> GuardConfigError:
    """The error that refuses an ambiguous ``url``, naming it masked and the fix.

    :param url: the URL as given, or as rendered with its password hidden.
    :param key: the setting the URL came from.
    """
    count = _scheme_and_rest(url)[1].count("@")
    reason = (
        f"found {count} '@' after '://', so where the password ends is ambiguous:"
        f" {AMBIGUOUS_FIX}"
    )
    return GuardConfigError(key, _masked_userinfo(url)[0], AMBIGUOUS_EXPECTED, reason)
