"""Hiding secrets in anything shown to a person or written to a log."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

MASK = "***"
SECRET_WORDS = ("password", "secret", "token", "passwd", "key")


def mask_uri(uri: str) -> str:
    """`postgresql://u:pw@h/` -> `postgresql://u:***@h/`, and a `password=` query parameter
    (redis-py's unix:// form) too; URIs without a password are unchanged."""
    head, qmark, query = uri.partition("?")
    query = re.sub(r"(^|&)password=[^&#]*", rf"\1password={MASK}", query)
    parts = urlsplit(head)
    userinfo, at, host = parts.netloc.rpartition("@")
    user, colon, _password = userinfo.partition(":")
    if at and colon:
        head = urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{host}"))
    return head + qmark + query


def is_secret_key(key: str) -> bool:
    key = key.lower()
    return any(word in key for word in SECRET_WORDS) and not key.endswith("_file")


def mask_value(key: str, value: Any) -> Any:
    if isinstance(value, dict):
        return {k: mask_value(k, v) for k, v in value.items()}
    if isinstance(value, str):
        if is_secret_key(key) and value:
            return MASK
        if "://" in value:
            return mask_uri(value)
    return value
