"""What an HTTP error page says, kept with a failed call of a load test.

trytond's werkzeug pages and nginx's are HTML; trytond's lock error and our session refusal
are both 503, told apart only by their text. Apart from the users module so that it can be
imported without Locust (which monkey-patches the importing process for gevent).
"""

from __future__ import annotations

import re

TAG = re.compile(r"<[^>]*>")


def page_text(body: str | None, limit: int = 200) -> str:
    """The page's text without markup, whitespace collapsed, at most `limit` characters."""
    text = " ".join(TAG.sub(" ", body or "").split())
    return text[:limit] or "(empty body)"
