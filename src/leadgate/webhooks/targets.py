"""Which addresses a webhook may reach: by default only public ones.

A webhook is a request the server makes on an admin's behalf, so without a rule an API
key could point it at the cloud metadata service (169.254.169.254), at the database on
127.0.0.1 or at the intranet, and read what comes back in the delivery log. By default
leadgate refuses loopback, private, link-local, multicast, reserved, unspecified,
shared (CGNAT) and metadata addresses, in every spelling (`0x7f000001`, `127.1`,
`[::ffff:127.0.0.1]`), at two moments:

- when a subscription is made (`check_target`: an IP literal is classified, a host
  name is resolved and every address it has is classified);
- at each delivery (`resolve_target`): the name is resolved again, every address
  checked, and the request goes to the checked address (Host header and TLS SNI keep
  the name), so a name that resolves somewhere else by then (DNS rebinding) is caught.

`LEADGATE_ALLOW_PRIVATE_WEBHOOKS=1` (on the server, the worker and the CLI) lifts the
rule, for receivers on an intranet and for tests:

    >>> refusal(ipaddress.ip_address("169.254.169.254"))
    'a cloud metadata address'
    >>> refusal(ipaddress.ip_address("93.184.216.34")) is None
    True
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from leadgate.ingest.validate import InputError

ALLOW_ENV = "LEADGATE_ALLOW_PRIVATE_WEBHOOKS"
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# Metadata services that sit on otherwise ordinary-looking addresses (AWS IPv6, Alibaba,
# Oracle's and the link-local one most clouds share are also caught as link-local).
METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)
Resolver = Callable[[str, int], Awaitable[list[str]]]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class TargetRefused(InputError):
    """A webhook URL that points at an address leadgate does not call by default."""


def private_allowed() -> bool:
    """Whether $LEADGATE_ALLOW_PRIVATE_WEBHOOKS=1 lifts the rule."""
    return os.environ.get(ALLOW_ENV, "").strip() == "1"


def refusal(ip: Address) -> str | None:
    """Why `ip` is not a webhook target (None: a public address)."""
    if isinstance(ip, ipaddress.IPv6Address):
        # ::ffff:127.0.0.1 and 64:ff9b::/96 style wrappers reach the IPv4 address inside.
        inner = ip.ipv4_mapped or ip.sixtofour
        if inner is None and ip in _NAT64:
            inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if inner is not None:
            return refusal(inner)
    if ip in METADATA:
        return "a cloud metadata address"
    for test, name in (
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_private, "a private address"),
        (ip.is_reserved, "a reserved address"),
    ):
        if test:
            return name
    if not ip.is_global:
        return "not a public address"
    return None


def ip_literal(host: str) -> Address | None:
    """The address `host` spells, in any form a resolver accepts (`10.0.0.1`, `::1`,
    `0x7f000001`, `2130706433`, `127.1`, `0177.0.0.1`), or None for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        # The legacy inet_aton forms getaddrinfo would also accept.
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _refused(url: str, ip: str, why: str) -> TargetRefused:
    return TargetRefused(
        "url",
        f"'{url}' reaches {ip}, {why}; webhooks go to public addresses only "
        f"(set {ALLOW_ENV}=1 on the server to allow intranet receivers)",
    )


def _parts(url: str) -> tuple[SplitResult, str, int]:
    parts = urlsplit(url)
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        raise InputError("url", f"'{url}' is not an http:// or https:// URL")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise InputError("url", f"'{url}' has an invalid port") from None
    return parts, host, port


def check_target(url: str, allow_private: bool | None = None) -> str:
    """`url` if it may be a webhook target now, else TargetRefused naming the address.

    Blocking (a host name is resolved); call it off the event loop."""
    if allow_private is None:
        allow_private = private_allowed()
    _, host, port = _parts(url)
    if allow_private:
        return url
    literal = ip_literal(host)
    if literal is not None:
        why = refusal(literal)
        if why:
            raise _refused(url, str(literal), why)
        return url
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise InputError("url", f"'{host}' does not resolve to an address") from None
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        why = refusal(ip)
        if why:
            raise _refused(url, str(ip), why)
    return url


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address of `host` (getaddrinfo, in the loop's executor)."""
    # Imported here: it runs inside a loop, so asyncio is loaded; a command that only
    # opens the engine (`lead show`) would pay ~20 ms for it at the top (issue 17).
    import asyncio

    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True, slots=True)
class Target:
    """Where one delivery goes: the URL with the checked address in place of the name,
    and the name for the Host header and TLS (SNI and certificate check)."""

    url: str
    host_header: str
    sni_hostname: str | None


async def resolve_target(
    url: str, resolver: Resolver = system_resolver, allow_private: bool | None = None
) -> Target:
    """Resolve `url`'s host once, check every address, and aim at the first one.

    TargetRefused when any address is refused (a name with one private address among
    public ones is as dangerous as a private one: which one a client picks is not ours)."""
    if allow_private is None:
        allow_private = private_allowed()
    parts, host, port = _parts(url)
    literal = ip_literal(host)
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = await resolver(host, port)
        except (OSError, UnicodeError) as exc:
            raise InputError("url", f"'{host}' does not resolve ({type(exc).__name__})") from None
        if not addresses:
            raise InputError("url", f"'{host}' does not resolve to an address")
    checked: list[Address] = []
    for raw in addresses:
        ip = ipaddress.ip_address(raw.split("%")[0])
        why = None if allow_private else refusal(ip)
        if why:
            raise _refused(url, str(ip), why)
        checked.append(ip)
    ip = checked[0]
    shown = f"[{ip}]" if ip.version == 6 else str(ip)
    default_port = 443 if parts.scheme == "https" else 80
    netloc = shown if parts.port in (None, default_port) else f"{shown}:{port}"
    if parts.username or parts.password:
        netloc = parts.netloc.rsplit("@", 1)[0] + "@" + netloc
    host_header = parts.netloc.rsplit("@", 1)[-1]
    target = parts._replace(netloc=netloc).geturl()
    sni = host if parts.scheme == "https" and literal is None else None
    return Target(target, host_header, sni)
