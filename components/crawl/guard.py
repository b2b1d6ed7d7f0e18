"""The address guard: which URLs may be fetched, and the one address each may be fetched from.

Why: the link set comes from strangers on Reddit, so any URL (or any redirect it answers with) may
point into the network the crawler runs in: a router's admin page, a database's HTTP port, the cloud
metadata service at 169.254.169.254 that hands out credentials. Fetching it would be server-side
request forgery, and the answer would land in our WARC files and perhaps in a published corpus.
StormCrawler's default URL filters refuse localhost and private ranges for this reason
(apache/stormcrawler#543, after commoncrawl/news-crawl#21), but as regular expressions over the URL
they miss a public name that resolves to a private address. So the guard judges addresses, not
spellings:

- every host form a client would accept is decoded first: IPv4 as one decimal, hex or octal number
  or in short form (`2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1`), IPv6 literals, and IPv4 embedded in
  IPv6 (mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`, compatible `::a.b.c.d`);
- a hostname is resolved once and every address of the answer must pass: a mixed answer (one public,
  one private address) is a DNS rebinding attempt;
- the fetcher connects to the very address that passed (`Target.ip`), never resolving again, so a
  second DNS answer with a short TTL cannot swap in an internal address after the check.

The check runs on every request, redirect hops and robots.txt included, so answers are cached per
(host, port) for the guard's lifetime (one crawl batch), and concurrent lookups of one host share one
query. `allow` opens chosen `host:port` pairs or CIDR ranges (the tests' and the sample's loopback
servers); `resolve` pins hostnames to `ip:port` like curl's --resolve, and its addresses are judged
like any other.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import urlsplit

from webtext.components.crawl.status import UrlStatus
from webtext.components.source.urls import DEFAULT_PORTS

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Answers kept per (host, port): a batch of 2000 URLs touches far fewer hosts, a long-lived guard stays small.
_CACHE_SIZE = 10_000
_SCHEME = re.compile(r"\s*([A-Za-z][A-Za-z0-9+.\-]*):")
# What inet_aton can read as IPv4: up to four dot-separated decimal, 0-octal or 0x-hex parts.
# Screening first keeps glibc's leniency (it ignores anything after a space) out of the decision.
_IPV4_FORM = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}")
# WHATWG URL: a host whose last label is a number is an IPv4 address or an invalid URL, never a name.
_NUMERIC_LABEL = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)")
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_CGNAT = ipaddress.ip_network("100.64.0.0/10")  # RFC 6598 shared address space: not private, not global
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052 well-known prefix; the last 32 bits are IPv4
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # RFC 4291, deprecated


@dataclass(frozen=True)
class Target:
    """Where one vetted request goes: connect to `ip`:`port`, name `host` in Host and TLS SNI."""

    scheme: str
    host: str
    ip: str
    port: int

    def connect_url(self, path_and_query: str) -> str:
        """The URL that reaches `ip`:`port` directly, e.g. `https://[2001:db8::1]:443/a?b`."""
        if not path_and_query.startswith("/"):
            path_and_query = "/" + path_and_query
        ip = f"[{self.ip}]" if ":" in self.ip else self.ip
        return f"{self.scheme}://{ip}:{self.port}{path_and_query}"


class Refused(Exception):
    """A URL the crawl must not fetch; `status` is its `urls.status` (`bad_scheme`, `blocked_address`)."""

    def __init__(self, status: UrlStatus, message: str):
        super().__init__(message)
        self.status = status


class Unresolvable(Exception):
    """A host DNS has no address for (the crawl records `connection_error`)."""


def refusal(address: Address) -> str | None:
    """Why `address` may not be fetched without an allow entry, or None when it is globally routable."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return f"{address} carries a zone index (link-local use only)"
        if address.ipv4_mapped is not None:
            return _embedded(address, address.ipv4_mapped, "IPv4-mapped")
        if address in _NAT64:
            return _embedded(address, ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF), "NAT64")
        if address.sixtofour is not None:
            why = _category(address) or refusal(address.sixtofour)
            return why and _embedded(address, address.sixtofour, "6to4", why)
        if address in _IPV4_COMPATIBLE and int(address) > 1:
            embedded = ipaddress.IPv4Address(int(address))
            return f"{address} is IPv4-compatible IPv6 (deprecated) embedding {embedded}"
    return _category(address)


def _embedded(address: Address, ipv4: ipaddress.IPv4Address, kind: str, why: str | None = None) -> str | None:
    why = why or refusal(ipv4)
    return why and f"{address} is {kind} IPv6 embedding {ipv4}: {why}"


def _category(address: Address) -> str | None:
    # Named in order of how telling the name is; `is_global` alone misses multicast in Python 3.11.
    for name, hit in (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("shared address space (CGNAT, 100.64.0.0/10)", address in _CGNAT),
        ("private", address.is_private),
        ("site-local", getattr(address, "is_site_local", False)),
        ("reserved", address.is_reserved),
        ("not globally routable", not address.is_global),
    ):
        if hit:
            return f"{address} is {name}"
    return None


def _plain(address: Address) -> Address:
    """The IPv4 address an IPv4-mapped IPv6 address stands for (connected to directly), else itself."""
    return address.ipv4_mapped if address.version == 6 and address.ipv4_mapped else address


def _split(text: str) -> tuple[str, int]:
    """`host:port` or `[v6]:port` (validated by the config) as (host, port)."""
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def _ip_or_none(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _ipv4_literal(host: str) -> ipaddress.IPv4Address | None:
    """`host` as IPv4 in any form inet_aton reads, None for a name; raises ValueError for neither."""
    if not _NUMERIC_LABEL.fullmatch(host.rpartition(".")[2]):
        return None
    if _IPV4_FORM.fullmatch(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            pass
    raise ValueError(f"{host!r} ends in a number but is not an IPv4 address")


def _hostname(host: str) -> str:
    """The ASCII (IDNA) form of a DNS name; raises ValueError when `host` cannot be one."""
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise ValueError(f"{host!r} is not a valid internationalised hostname") from exc
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in host.split(".")):
        raise ValueError(f"{host!r} is not a valid hostname")
    return host


class AddressGuard:
    """Vets URLs before every request; one per crawl batch (DNS answers are cached for its lifetime)."""

    def __init__(self, allow: list[str], resolve: dict[str, str]):
        self._networks = []
        self._allowed_ips: set[tuple[Address, int]] = set()
        self._allowed_names: set[tuple[str, int]] = set()
        for entry in allow:
            if "/" in entry:
                self._networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            host, port = _split(entry)
            if (ip := _ip_or_none(host)) is not None:
                self._allowed_ips.add((ip, port))
            else:
                self._allowed_names.add((host.lower().rstrip("."), port))
        self._resolve = {
            name.lower().rstrip("."): (ipaddress.ip_address(host), port)
            for name, (host, port) in ((name, _split(target)) for name, target in resolve.items())
        }
        self._answers: OrderedDict[tuple[str, int], tuple[str, str | None]] = OrderedDict()
        self._lookups: dict[tuple[str, int], asyncio.Task] = {}

    async def check(self, url: str) -> Target:
        """The Target to connect to for `url`; raises Refused or Unresolvable."""
        scheme, host, port, ip = self._parse(url)
        if ip is not None:
            if (why := self._verdict(host, port, [ip])) is not None:
                raise Refused(UrlStatus.blocked_address, f"{url}: {why}")
            return Target(scheme, host, str(_plain(ip)), port)
        pinned = self._resolve.get(host)
        if pinned is not None:
            ip, port = pinned
            if (why := self._verdict(host, port, [ip])) is not None:
                raise Refused(UrlStatus.blocked_address, f"{url}: {host} is pinned by crawl.resolve; {why}")
            return Target(scheme, host, str(_plain(ip)), port)
        key = (host, port)
        answer = self._answers.get(key)
        if answer is None:
            answer = await self._lookup(key)
        else:
            self._answers.move_to_end(key)
        connect, why = answer
        if why is not None:
            raise Refused(UrlStatus.blocked_address, f"{url}: {why}")
        return Target(scheme, host, connect, port)

    def _parse(self, url: str) -> tuple[str, str, int, Address | None]:
        """(scheme, host, port, IP literal or None); refuses what is not an http(s) URL with a host."""
        found = _SCHEME.match(url)
        scheme = found.group(1).lower() if found else ""
        if scheme not in DEFAULT_PORTS:
            raise Refused(UrlStatus.bad_scheme, f"{url}: scheme {scheme or '(none)'!r} is not http or https")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise Refused(UrlStatus.blocked_address, f"{url}: not a valid URL ({exc})") from None
        if port == 0:
            raise Refused(UrlStatus.blocked_address, f"{url}: port 0")
        port = port or DEFAULT_PORTS[scheme]
        host = parts.hostname or ""
        if parts.netloc.rpartition("@")[2].startswith("["):
            ip = _ip_or_none(host)
            if not isinstance(ip, ipaddress.IPv6Address) or ip.scope_id:
                why = f"[{host}] is not a global-scope IPv6 address"
                raise Refused(UrlStatus.blocked_address, f"{url}: {why}")
            return scheme, str(ip), port, ip
        if host.endswith("."):  # the root label: `example.com.` is `example.com`
            host = host[:-1]
        if not host:
            raise Refused(UrlStatus.blocked_address, f"{url}: no host")
        try:
            host = _hostname(host)
            ipv4 = _ipv4_literal(host)
        except ValueError as exc:
            raise Refused(UrlStatus.blocked_address, f"{url}: {exc}") from None
        if ipv4 is not None:
            return scheme, str(ipv4), port, ipv4
        return scheme, host, port, None

    def _allowed(self, host: str, port: int, address: Address) -> bool:
        return ((address, port) in self._allowed_ips or (host, port) in self._allowed_names
                or any(address in network for network in self._networks))

    def _verdict(self, host: str, port: int, addresses: list[Address]) -> str | None:
        """None when every address may be fetched, else why the first bad one may not."""
        for address in addresses:
            if self._allowed(host, port, _plain(address)) or self._allowed(host, port, address):
                continue
            if (why := refusal(address)) is not None:
                return why
        return None

    async def _lookup(self, key: tuple[str, int]) -> tuple[str, str | None]:
        """Resolve once however many requests wait for the same host; shielded, so a request that
        hits its deadline does not cancel the query the others wait on."""
        loop = asyncio.get_running_loop()
        task = self._lookups.get(key)
        if task is None or task.get_loop() is not loop:
            task = loop.create_task(self._resolve_and_judge(loop, key))
            self._lookups[key] = task
            task.add_done_callback(lambda done: self._lookup_done(key, done))
        return await asyncio.shield(task)

    def _lookup_done(self, key: tuple[str, int], task: asyncio.Task) -> None:
        if self._lookups.get(key) is task:
            del self._lookups[key]
        if not task.cancelled():
            task.exception()  # retrieved here, so an answer nobody waits for any more is not logged

    async def _resolve_and_judge(self, loop: asyncio.AbstractEventLoop,
                                 key: tuple[str, int]) -> tuple[str, str | None]:
        host, port = key
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:  # socket.gaierror is an OSError
            raise Unresolvable(f"{host}: DNS lookup failed ({exc})") from None
        addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
        if not addresses:
            raise Unresolvable(f"{host}: DNS answered with no address")
        why = self._verdict(host, port, addresses)
        if why is not None:
            why = f"{host} resolves to {', '.join(map(str, addresses))}; {why}"
        answer = (str(_plain(addresses[0])), why)
        self._answers[key] = answer
        if len(self._answers) > _CACHE_SIZE:
            self._answers.popitem(last=False)
        return answer
