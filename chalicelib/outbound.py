"""Where the service may call out: the stage's policy for user-supplied URLs (DESIGN 15, SSRF defence).

A request can make the service call a URL of the user's choosing: today the
OAuth2 `token_url`, which the worker fetches. Unchecked, that call reaches what
only the service can reach: a loopback admin port, the private network, or the
cloud metadata endpoint that hands out the function's own AWS credentials. So a
user-supplied URL must

- be a plain http(s) URL: printable ASCII, no user info, no fragment, no dot
  segments, at most 2048 characters, so that every parser on the way reads the
  same host and path in it;
- start with an entry of the stage's allow-list (OUTBOUND_ALLOWLIST, plus the
  stage's target): same scheme, host and port, and a path under the entry's at
  a segment boundary;
- resolve only to public addresses. Every address the host resolves to is
  checked, and an IPv6 form that carries an IPv4 address (mapped, compatible,
  6to4, NAT64) is judged by that address, so odd spellings (`2130706433`,
  `127.1`, `[::ffff:127.0.0.1]`) are caught. A stage may allow private
  addresses (OUTBOUND_ALLOW_PRIVATE: the local stage, whose sandbox target is
  on loopback); cloud metadata addresses are refused always.

The API checks at trigger and retry (a 422 naming the field); the worker checks
again right before it calls, since the name may resolve elsewhere by then, and
follows no redirect. What is left: the HTTP client resolves the name once more
when it connects, so a DNS server that answers differently within that moment
is not caught here.
"""
from __future__ import annotations

import socket
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from typing import TYPE_CHECKING, Callable
from urllib.parse import unquote, urlsplit

from chalicelib.errors import ECHO_LIMIT, InvalidRequest, cut

if TYPE_CHECKING:
    from chalicelib.config import Settings

MAX_URL_LENGTH = 2048
DEFAULT_PORTS = {"http": 80, "https": 443}

# Where a cloud function finds its own credentials: refused even where private addresses are allowed.
METADATA_ADDRESSES = frozenset(ip_address(a) for a in (
    "169.254.169.254", "fd00:ec2::254",  # EC2 instance metadata (IPv4, IPv6)
    "169.254.170.2",                     # ECS task credentials
    "169.254.170.23", "fd00:ec2::23",    # EKS Pod Identity agent
))
SHARED_ADDRESS_SPACE = ip_network("100.64.0.0/10")  # carrier-grade NAT (RFC 6598): neither public nor is_private
NAT64_PREFIX = ip_network("64:ff9b::/96")           # RFC 6052: the last 32 bits are the IPv4 address reached
IPV4_COMPATIBLE = ip_network("::/96")               # the deprecated ::a.b.c.d


class _Refused(Exception):
    """Why a URL is refused, in words; `OutboundPolicy.check` puts the field in front."""


@dataclass(frozen=True)
class _Location:
    """What a URL calls: compared with the allow-list's entries, and resolved."""

    scheme: str
    host: str   # lower case, brackets of an IPv6 literal taken off
    port: int   # the scheme's default made explicit
    path: str

    def within(self, entry: _Location) -> bool:
        if (self.scheme, self.host, self.port) != (entry.scheme, entry.host, entry.port):
            return False
        folder = entry.path.rstrip("/")  # `/oauth2` and `/oauth2/` both allow /oauth2/token, never /oauth2-admin
        return self.path == folder or self.path.startswith(folder + "/")


@dataclass(frozen=True)
class OutboundPolicy:
    """The URLs a stage lets a user have it call. `resolve` is socket.getaddrinfo, or a fake in tests."""

    allowlist: tuple[str, ...] = ()
    allow_private: bool = False
    resolve: Callable[..., list] = field(default=socket.getaddrinfo, repr=False, compare=False)
    _entries: tuple[_Location, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        entries = []
        for entry in self.allowlist:
            try:
                entries.append(_location(entry))
            except _Refused as why:  # a stage's mistake: fail where it is read, not on some user's request
                raise ValueError(f"outbound allow-list entry {cut(entry)!r}: {why}") from None
        object.__setattr__(self, "_entries", tuple(entries))

    @classmethod
    def from_settings(cls, settings: Settings) -> OutboundPolicy:
        target = (settings.target_api_url,) if settings.target_api_url else ()
        return cls(tuple(settings.outbound_allowlist) + target, settings.outbound_allow_private)

    def check(self, url: str, field: str) -> None:
        """Refuse (InvalidRequest, a 422) a URL the stage does not call; `field` names it in the detail."""
        try:
            self._check(url)
        except _Refused as why:
            raise InvalidRequest(f"{field}: {why}") from None

    def _check(self, url: str) -> None:
        if not isinstance(url, str):
            raise _Refused("must be a URL")
        location = _location(url)
        if not any(location.within(entry) for entry in self._entries):
            raise _Refused(f"{_shown(url)} is not on the stage's allow-list")
        for address in self._addresses(location):
            if why := _forbidden(address, self.allow_private):
                raise _Refused(f"resolves to {why}")

    def _addresses(self, location: _Location) -> list[IPv4Address | IPv6Address]:
        try:
            found = self.resolve(location.host, location.port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):  # socket.gaierror is an OSError
            found = []
        # An IPv6 address may come with its scope (fe80::1%eth0): the address is what is judged.
        addresses = [ip_address(sockaddr[0].split("%")[0]) for family, _, _, _, sockaddr in found
                     if family in (socket.AF_INET, socket.AF_INET6)]
        if not addresses:
            raise _Refused("its host cannot be resolved")
        return addresses


def _location(url: str) -> _Location:
    """The URL's scheme, host, port and path, read strictly; _Refused when any parser could read it otherwise."""
    if len(url) > MAX_URL_LENGTH:
        raise _Refused(f"must be at most {MAX_URL_LENGTH} characters")
    # No spaces or control characters (a parser may drop or split at them), no backslash (some read it as a
    # slash, ending the host early), no other script (IDNA would fold `１２７.０.０.１` into 127.0.0.1).
    if not all("!" <= c <= "~" and c != "\\" for c in url):
        raise _Refused("must be printable ASCII without spaces, control characters or backslashes "
                       "(percent-encode the others)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # an unclosed IPv6 bracket, a port that is no number from 0 to 65535
        raise _Refused("is not a valid URL") from None
    if parts.scheme not in DEFAULT_PORTS:
        raise _Refused("must be an http(s) URL")
    if "@" in parts.netloc:
        raise _Refused("must not hold a user name or password before the host")
    if "#" in url:
        raise _Refused("must not hold a fragment (#...)")
    if not parts.hostname:
        raise _Refused("must name a host")
    path = parts.path or "/"
    # A client or server that removes dot segments (or decodes %2e and %2f first) would leave the allowed folder.
    if {".", ".."} & set(unquote(path).split("/")):
        raise _Refused("must not hold . or .. path segments")
    return _Location(parts.scheme, parts.hostname, DEFAULT_PORTS[parts.scheme] if port is None else port, path)


def _shown(url: str) -> str:
    """The user's URL as a detail quotes it: without its query (it may hold a key), cut short."""
    head = url.split("?", 1)[0]
    return repr(cut(head) if head == url or len(head) > ECHO_LIMIT else head + "…")


def _forbidden(address: IPv4Address | IPv6Address, allow_private: bool) -> str | None:
    """What kind of address it is, in words, when the service must not call it; None when it may."""
    reached = _embedded_ipv4(address) or address
    shown = str(address) if reached == address else f"{address}, that is {reached}"
    if address in METADATA_ADDRESSES or reached in METADATA_ADDRESSES:
        return f"a cloud metadata address ({shown})"
    if allow_private:
        return None
    kind = _non_public_kind(reached)
    return f"{kind} ({shown})" if kind else None


def _embedded_ipv4(address: IPv4Address | IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 address reaches: mapped (::ffff:a.b.c.d), 6to4 (2002::/16), NAT64
    (64:ff9b::/96) or compatible (::a.b.c.d, but not :: and ::1, which are IPv6's own)."""
    if not isinstance(address, IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64_PREFIX or (address in IPV4_COMPATIBLE and int(address) > 1):
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _non_public_kind(address: IPv4Address | IPv6Address) -> str | None:
    # The most telling name first: 0.0.0.0 is also is_private, 240.0.0.1 also reserved.
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_multicast:
        return "a multicast address"
    if address in SHARED_ADDRESS_SPACE:
        return "a shared address (100.64.0.0/10)"
    if address.is_reserved:
        return "a reserved address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "a non-public address"
    return None
