"""robots.txt as RFC 9309 reads it, parsed by Protego (Scrapy's maintained parser).

The fetch outcome decides before the content does: a 2xx body is parsed; 4xx means no rules
(allow all); 5xx or an unreachable server means disallow all, since the site may be down and
crawling it blind is what the RFC asks crawlers not to do.
"""

from __future__ import annotations

from dataclasses import dataclass

from protego import Protego

from webtext.components.source.urls import DEFAULT_PORTS


@dataclass(frozen=True)
class RobotsPolicy:
    rules: Protego | None  # None with allow_all deciding
    allow_all: bool
    failure: str | None = None  # why robots.txt could not be had (unreachable: disallow all)

    def allows(self, url: str, user_agent: str) -> bool:
        if self.rules is None:
            return self.allow_all
        return self.rules.can_fetch(url, user_agent)

    def crawl_delay(self, user_agent: str) -> float | None:
        return self.rules.crawl_delay(user_agent) if self.rules is not None else None


def policy_for(status: int | None, body: bytes, failure: str | None = None) -> RobotsPolicy:
    """The policy a robots.txt fetch ending in `status` (None: unreachable, `failure` says why)."""
    if status is None:
        return RobotsPolicy(None, False, failure or "unreachable")
    if 200 <= status < 300:
        text = body.decode("utf-8", "replace")  # RFC 9309: robots.txt is UTF-8
        return RobotsPolicy(Protego.parse(text), True)
    return RobotsPolicy(None, 400 <= status < 500)  # 4xx: no rules; 5xx: disallow all


def robots_url(scheme: str, host: str, port: int | None) -> str:
    default = DEFAULT_PORTS[scheme]
    netloc = f"[{host}]" if ":" in host else host
    if port and port != default:
        netloc = f"{netloc}:{port}"
    return f"{scheme}://{netloc}/robots.txt"
