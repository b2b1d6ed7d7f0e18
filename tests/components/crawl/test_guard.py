"""The address guard: every spelling of an internal address is refused, allow and resolve open only
what they name, and a hostname is judged by every address DNS gives for it."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import pytest

from webtext.components.crawl.guard import AddressGuard, Refused, Target, Unresolvable, refusal


def check(url: str, allow: list[str] = (), resolve: dict[str, str] | None = None,
          guard: AddressGuard | None = None) -> Target:
    guard = guard or AddressGuard(list(allow), resolve or {})
    return asyncio.run(guard.check(url))


def refused(url: str, **kwargs) -> Refused:
    with pytest.raises(Refused) as caught:
        check(url, **kwargs)
    return caught.value


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/",
    "http://127.0.0.2/",
    "http://[::1]/",
    "http://2130706433/",            # one decimal number
    "http://0x7f000001/",            # one hex number
    "http://0x7f.1/",                # hex part, short form
    "http://0177.0.0.1/",            # octal part
    "http://127.1/",                 # short form
    "http://127.0.0.1./",            # trailing dot
    "http://[::ffff:127.0.0.1]/",    # IPv4-mapped
    "http://[::ffff:7f00:1]/",
    "http://[64:ff9b::7f00:1]/",     # NAT64
    "http://[2002:7f00:1::1]/",      # 6to4
    "http://[::127.0.0.1]/",         # IPv4-compatible (deprecated)
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://192.168.1.1/",
    "http://[::ffff:192.168.1.1]/",
    "http://100.64.0.1/",            # CGNAT: not private, not global either
    "http://169.254.169.254/latest/meta-data",  # cloud metadata
    "http://224.0.0.1/",             # multicast: is_global in Python 3.11, refused all the same
    "http://[ff02::1]/",
    "http://0.0.0.0/",
    "http://0/",
    "http://240.0.0.1/",
    "http://[fe80::1]/",
    "http://[fe80::1%25eth0]/",
    "http://[fc00::1]/",
    "http://[fec0::1]/",             # site-local
    "http://user:pass@127.0.0.1:8000/",
    "http://localhost/",             # resolves to loopback through /etc/hosts
    "http://LOCALHOST./",
])
def test_internal_addresses_are_refused(url):
    error = refused(url)
    assert error.status == "blocked_address"
    assert url in str(error)


def test_refusals_say_which_address_and_why():
    assert "127.0.0.1 is loopback" in str(refused("http://2130706433/"))
    assert "169.254.169.254 is link-local" in str(refused("http://169.254.169.254/latest/meta-data"))
    assert "CGNAT" in str(refused("http://100.64.0.1/"))
    assert "NAT64" in str(refused("http://[64:ff9b::7f00:1]/")) and "127.0.0.1" in str(
        refused("http://[64:ff9b::7f00:1]/"))
    message = str(refused("http://localhost:8000/"))
    assert "localhost resolves to 127.0.0.1" in message and "loopback" in message


@pytest.mark.parametrize("url", [
    "file:///etc/passwd", "gopher://x/", "ftp://example.com/", "data:text/html,hi",
    "javascript:alert(1)", "//example.com/", "example.com", "",
])
def test_schemes_other_than_http_are_refused(url):
    assert refused(url).status == "bad_scheme"


@pytest.mark.parametrize("url", [
    "http:///path",                 # no host
    "http://[127.0.0.1]/",          # IPv4 in brackets
    "http://[v1.example]/",         # IPvFuture: no address to vet
    "http://example.com:99999/",
    "http://example.com:0/",
    "http://256.0.0.1/",            # ends in a number, so an address, but not a valid one
    "http://1.2.3.4.5/",
    "http://%31%32%37.0.0.1/",
    "http://exa mple.com/",
])
def test_malformed_hosts_are_refused(url):
    assert refused(url).status == "blocked_address"


def test_public_addresses_pass():
    assert check("http://8.8.8.8/") == Target("http", "8.8.8.8", "8.8.8.8", 80)
    assert check("https://[2606:4700:4700::1111]/") == Target(
        "https", "2606:4700:4700::1111", "2606:4700:4700::1111", 443)
    assert check("HTTP://134744072:8080/").ip == "8.8.8.8"           # decoded, and the port kept
    assert check("http://[::ffff:8.8.8.8]/").ip == "8.8.8.8"         # mapped: connect over IPv4
    assert check("http://[64:ff9b::808:808]/").ip == "64:ff9b::808:808"  # NAT64 of a public address


def test_host_port_allow_entry_opens_that_port_only():
    assert check("http://127.0.0.1:8000/a", allow=["127.0.0.1:8000"]) == Target(
        "http", "127.0.0.1", "127.0.0.1", 8000)
    assert refused("http://127.0.0.1:8001/a", allow=["127.0.0.1:8000"]).status == "blocked_address"
    assert refused("http://127.0.0.2:8000/a", allow=["127.0.0.1:8000"]).status == "blocked_address"
    # Any spelling of the allowed address is the allowed address.
    assert check("http://0x7f.1:8000/", allow=["127.0.0.1:8000"]).ip == "127.0.0.1"
    assert check("http://[::1]:8000/", allow=["[::1]:8000"]).ip == "::1"


def test_cidr_allow_entry_opens_every_port_in_range():
    allow = ["127.0.0.0/8"]
    assert check("http://127.0.0.5:9/", allow=allow) == Target("http", "127.0.0.5", "127.0.0.5", 9)
    assert check("http://[::ffff:127.0.0.9]:80/", allow=allow).ip == "127.0.0.9"
    assert refused("http://10.0.0.1/", allow=allow).status == "blocked_address"
    assert refused("http://[::1]/", allow=allow).status == "blocked_address"


def test_hostname_allow_entry_opens_what_the_name_resolves_to():
    assert check("http://localhost:8000/", allow=["localhost:8000"]).ip == "127.0.0.1"
    assert refused("http://localhost:8001/", allow=["localhost:8000"]).status == "blocked_address"


def test_resolve_pins_the_address_and_is_still_judged():
    resolve = {"news.sample.test": "127.0.0.1:8000"}
    target = check("http://News.Sample.Test./story?id=1", allow=["127.0.0.1:8000"], resolve=resolve)
    assert target == Target("http", "news.sample.test", "127.0.0.1", 8000)
    assert target.connect_url("/story?id=1") == "http://127.0.0.1:8000/story?id=1"
    assert check("http://news.sample.test/", allow=["news.sample.test:8000"], resolve=resolve).port == 8000
    error = refused("http://news.sample.test/", resolve=resolve)
    assert "crawl.resolve" in str(error) and "127.0.0.1 is loopback" in str(error)


def test_unknown_host_is_unresolvable():
    with pytest.raises(Unresolvable, match="nonexistent.invalid"):
        check("http://nonexistent.invalid/")


def test_connect_url_brackets_ipv6_and_always_names_the_port():
    target = Target("https", "example.com", "2001:db8::1", 443)
    assert target.connect_url("/a?b") == "https://[2001:db8::1]:443/a?b"
    assert target.connect_url("") == "https://[2001:db8::1]:443/"
    assert Target("http", "x", "127.0.0.1", 8000).connect_url("/") == "http://127.0.0.1:8000/"


@pytest.mark.parametrize("name", ["1.example.com", "0x7f.example", "example.com", "cafe.be", "deadbeef"])
def test_names_that_look_numeric_are_resolved_as_names(name):
    dns = FakeDns({name: ["93.184.216.34"]})
    target = run_with_dns(dns, lambda: AddressGuard([], {}).check(f"http://{name}/"))
    assert (target.host, target.ip, dns.calls) == (name, "93.184.216.34", 1)


def test_refusal_names_the_category():
    assert refusal(ipaddress.ip_address("8.8.8.8")) is None
    assert refusal(ipaddress.ip_address("2002:808:808::1")) is None  # 6to4 of a public address
    assert refusal(ipaddress.ip_address("192.0.2.1")) == "192.0.2.1 is private"  # documentation range
    assert refusal(ipaddress.ip_address("2002:a00:1::1")).endswith("10.0.0.1 is private")


class FakeDns:
    """Stands in for the event loop's getaddrinfo: fixed answers, counted calls."""

    def __init__(self, answers: dict[str, list[str]]):
        self.answers, self.calls = answers, 0

    async def __call__(self, host, port, *, type=0, **_):
        self.calls += 1
        await asyncio.sleep(0.01)
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET6 if ":" in ip else socket.AF_INET, type, 6, "", (ip, port))
                for ip in self.answers[host]]


def run_with_dns(dns: FakeDns, work):
    async def main():
        asyncio.get_running_loop().getaddrinfo = dns
        return await work()
    return asyncio.run(main())


def test_a_mixed_dns_answer_is_refused_as_rebinding():
    dns = FakeDns({"rebind.example": ["93.184.216.34", "10.0.0.5"], "ok.example": ["93.184.216.34"]})
    guard = AddressGuard([], {})

    async def work():
        with pytest.raises(Refused, match="10.0.0.5 is private"):
            await guard.check("http://rebind.example/")
        return await guard.check("https://ok.example/")

    assert run_with_dns(dns, work) == Target("https", "ok.example", "93.184.216.34", 443)


def test_dns_answers_are_cached_and_concurrent_lookups_shared():
    dns = FakeDns({"example.org": ["2606:2800:220:1:248:1893:25c8:1946", "93.184.216.34"]})
    guard = AddressGuard([], {})

    async def work():
        first = await asyncio.gather(*(guard.check(f"http://example.org/{i}") for i in range(50)))
        again = await guard.check("http://example.org/robots.txt")
        other_port = await guard.check("http://example.org:8080/")
        return first, again, other_port

    first, again, other_port = run_with_dns(dns, work)
    assert {t.ip for t in first} == {"2606:2800:220:1:248:1893:25c8:1946"}  # the first address
    assert again.ip == first[0].ip
    assert other_port.port == 8080
    assert dns.calls == 2  # one per (host, port)


def test_dns_failures_are_not_cached():
    dns = FakeDns({})
    guard = AddressGuard([], {})

    async def work():
        for _ in range(2):
            with pytest.raises(Unresolvable):
                await guard.check("http://gone.example/")

    run_with_dns(dns, work)
    assert dns.calls == 2


def test_a_request_cancelled_at_its_deadline_leaves_the_lookup_to_the_others():
    dns = FakeDns({"slow.example": ["93.184.216.34"]})
    guard = AddressGuard([], {})

    async def work():
        waiter = asyncio.create_task(guard.check("http://slow.example/"))
        await asyncio.sleep(0)
        waiter.cancel()
        return await guard.check("http://slow.example/b")

    assert run_with_dns(dns, work).ip == "93.184.216.34"
    assert dns.calls == 1
