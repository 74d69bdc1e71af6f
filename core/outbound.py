"""Where the platform may send requests of its own (job callbacks): no SSRF.

A callback URL comes from a client, and the worker that posts to it sits inside
the operator's network, beside the database, Redis and the cloud metadata
service. So a URL is refused unless it is plain http(s) without credentials or
control characters, and every address its host resolves to is a public one.
Names are resolved when the job is submitted and again when the callback is
sent, and the request goes to the address that was checked, so a DNS answer
that changes in between (rebinding) cannot redirect it.

Host names and CIDR ranges in ``OCR_WEBHOOK_ALLOW`` are let through for
private deployments whose receivers live on internal addresses.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from core.errors import InvalidOption

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_URL_LENGTH = 2000
# NAT64 prefixes carry an IPv4 address in their last 32 bits (RFC 6052, RFC 8215).
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


@dataclass(frozen=True)
class Allowlist:
    hosts: frozenset[str]
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]

    @classmethod
    def parse(cls, entries: Iterable[str]) -> Allowlist:
        hosts, networks = set(), []
        for entry in entries:
            entry = entry.strip().lower()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                hosts.add(entry.rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def allows_address(self, address: IPAddress) -> bool:
        if address.version == 6 and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address.version == net.version and address in net for net in self.networks)


@dataclass(frozen=True)
class Target:
    """A checked callback URL: where to connect, and what to say in Host, SNI and the request line."""

    scheme: str
    host: str  # as written in the URL (lower case, IPv6 without brackets)
    port: int
    path: str  # path and query, never empty
    addresses: tuple[str, ...]  # every address the host resolved to, all allowed

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def parse_url(url: str) -> tuple[str, str, int, str]:
    """Syntax only: (scheme, host, port, path). Raises InvalidOption with the reason."""
    if len(url) > MAX_URL_LENGTH:
        raise InvalidOption(f"callback_url may be at most {MAX_URL_LENGTH} characters.")
    if any(ord(c) < 0x21 or ord(c) == 0x7F or "\x80" <= c <= "\x9f" for c in url):
        raise InvalidOption("callback_url must not contain spaces or control characters.")
    if not url.isascii():
        raise InvalidOption("callback_url must be ASCII (percent-encode the path, use the punycode host name).")
    if "\\" in url:
        raise InvalidOption("callback_url must not contain backslashes.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidOption(f"callback_url is not a valid URL ({exc}).") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise InvalidOption("callback_url must be an http:// or https:// URL.")
    if "@" in parts.netloc:
        raise InvalidOption("callback_url must not contain a user name or password.")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise InvalidOption("callback_url has no host.")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return scheme, host, port or (443 if scheme == "https" else 80), path


def refusal(address: IPAddress) -> str | None:
    """Why ``address`` may not be reached, or None when it is a public unicast address."""
    if address.version == 6:
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is None and any(address in net for net in _NAT64):
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None and (reason := refusal(embedded)) is not None:
            return reason
        if address.ipv4_mapped is not None:
            return None  # a public IPv4 address written the IPv6 way
    for label, flag in (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("not globally routable", not address.is_global),
    ):
        if flag:
            return label
    return None


def literal_address(host: str) -> IPAddress | None:
    """The address a host written as a number stands for, in any spelling resolvers accept
    (127.1, 0x7f000001, 2130706433, 0177.0.0.1, ::ffff:127.0.0.1), or None for a name."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    try:
        # inet_aton takes the old BSD forms (octal, hex, fewer than four parts) that getaddrinfo does.
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def check_addresses(host: str, addresses: Iterable[IPAddress], allow: Allowlist) -> None:
    if host.lower() in allow.hosts:
        return
    for address in addresses:
        reason = refusal(address)
        if reason is not None and not allow.allows_address(address):
            raise InvalidOption(
                f"callback_url may not point at {address} ({reason}); an operator can allow it with OCR_WEBHOOK_ALLOW."
            )


def resolve(host: str, port: int) -> list[IPAddress]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


def check_syntax(url: str, allow: Allowlist) -> None:
    """What can be known without DNS: the URL's form, and the host when it is an address."""
    _scheme, host, _port, _path = parse_url(url)
    literal = literal_address(host)
    if literal is not None:
        check_addresses(host, [literal], allow)


def check_target(url: str, allow: Allowlist) -> Target:
    """Parse ``url`` and resolve its host; every address must be allowed.

    Raises InvalidOption when the URL or an address is refused, and OSError
    (socket.gaierror) when the name cannot be resolved just now.
    """
    scheme, host, port, path = parse_url(url)
    literal = literal_address(host)
    addresses = [literal] if literal is not None else resolve(host, port)
    if not addresses:
        raise OSError(f"{host} has no addresses")
    check_addresses(host, addresses, allow)
    return Target(scheme, host.lower(), port, path, tuple(str(a) for a in addresses))
