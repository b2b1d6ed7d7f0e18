"""Where a URL stands: `pending` until the crawl gives it one terminal status, or `filtered` by the
source stage before any fetch.

The values are the strings `urls.status` holds (its CHECK constraint allows exactly these), that
outcome files carry and that the crawl report lists, in the order it lists them.
"""

from __future__ import annotations

from enum import StrEnum


class UrlStatus(StrEnum):
    pending = "pending"  # selected by the source stage, not fetched yet
    ok = "ok"  # a 2xx HTML page, archived
    http_error = "http_error"  # the final response was not 2xx
    timeout = "timeout"  # no complete answer within `crawl.timeout_s` (or robots.txt's deadline)
    too_large = "too_large"  # the decoded body passed `crawl.max_bytes`
    robots = "robots"  # robots.txt disallows it for our user agent
    blocked_address = "blocked_address"  # the address guard refused a hop (private, loopback, ...)
    bad_scheme = "bad_scheme"  # neither http nor https
    not_html = "not_html"  # a 2xx answer that is not HTML, or in an encoding we do not decode
    redirect_limit = "redirect_limit"  # more than `crawl.max_redirects` hops, or a loop
    connection_error = "connection_error"  # no answer: DNS, connection, TLS or protocol failure
    filtered = "filtered"  # dropped by the source stage's URL filter, never fetched

    @property
    def terminal(self) -> bool:
        """Whether the URL is done with: every status but `pending`."""
        return self is not UrlStatus.pending
