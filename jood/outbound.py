"""The one guard of every request this server makes to an address someone else chose.

Provider API calls (send, check, media upload, template sync) and customer
callbacks both go through a `requests` session built here. Its transport
refuses any destination that is not a public unicast address (loopback,
private, link-local, multicast, reserved, unspecified, cloud metadata):

- `validate_url` refuses what can be refused without DNS (scheme, no host,
  a literal non-public IP, `localhost`): used where a URL is entered;
- at connect time, on every new connection, the host is resolved and refused
  if any of its addresses is not public, and the connected socket's peer is
  checked again, so DNS that changes between the two (rebinding) does not
  get through either. Nothing is written to a refused socket.

`OUTBOUND_ALLOW_PRIVATE` (old name `CALLBACKS_ALLOW_PRIVATE`, still read) is
the only way to reach private addresses: tests, local development, the bench's
mock provider. Sessions ignore proxies from the environment: a proxy would
hide the address we connect to.

Here in `jood/` (the ground floor) so that `providers`, `messaging` and
`webhooks` all import it.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

METADATA_ADDRESSES = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UnsafeDestination(ValueError):
    """The URL points at an address we refuse to call."""


def allow_private() -> bool:
    """True when `OUTBOUND_ALLOW_PRIVATE` (or its old name `CALLBACKS_ALLOW_PRIVATE`) is on."""
    from django.conf import settings

    if not settings.configured:
        return False
    return bool(settings.OUTBOUND_ALLOW_PRIVATE or settings.CALLBACKS_ALLOW_PRIVATE)


def is_forbidden_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for any address that is not a public unicast one."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None and is_forbidden_address(embedded):
            return True
    return (
        address in METADATA_ADDRESSES
        or address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


def _check_host_literal(host: str) -> None:
    name = host.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        raise UnsafeDestination("The URL points at this machine (localhost).")
    literal = host.strip("[]").split("%", 1)[0]
    try:
        address = ipaddress.ip_address(literal)
    except ValueError:
        try:
            # The forms resolvers also read as IPv4: 127.1, 0x7f.0.0.1, 017700000001, 2130706433.
            address = ipaddress.IPv4Address(socket.inet_aton(literal))
        except (OSError, ValueError):
            return
    if is_forbidden_address(address):
        raise UnsafeDestination(f"{host} is not a public address.")


def validate_url(url: str) -> None:
    """Refuse what can be refused without DNS: other schemes, no host, literal non-public IPs, localhost.

    Used where a URL is entered (API, portal, accept time); the transport checks again at connect time.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        raise UnsafeDestination("The URL is malformed.") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeDestination("The URL must start with http:// or https://.")
    if not host:
        raise UnsafeDestination("The URL has no host.")
    if allow_private():
        return
    _check_host_literal(host)


def check_host(host: str, port: int) -> None:
    """Resolve `host` and refuse it if any of its addresses is not public (unless allowed)."""
    if allow_private():
        return
    _check_host_literal(host)
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeDestination(f"Could not resolve {host}: {exc}") from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if is_forbidden_address(address):
            raise UnsafeDestination(f"{host} resolves to {address}, which is not a public address.")


def check_destination(url: str) -> None:
    """Validate the URL and resolve its host: the whole check, before a request (for a clear error early)."""
    validate_url(url)
    parts = urlsplit(url)
    check_host(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))


def _check_peer(sock: socket.socket, host: str) -> None:
    if allow_private():
        return
    peer = str(sock.getpeername()[0]).split("%", 1)[0]
    if is_forbidden_address(ipaddress.ip_address(peer)):
        sock.close()
        raise UnsafeDestination(f"{host} connected to {peer}, which is not a public address.")


class _GuardMixin:
    def _new_conn(self) -> socket.socket:
        check_host(self._dns_host, self.port)  # before any packet: no probing of private ports
        sock = super()._new_conn()
        _check_peer(sock, self.host)  # after: the address really connected to (DNS rebinding)
        return sock


class _GuardedHTTPConnection(_GuardMixin, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_GuardMixin, HTTPSConnection):
    pass


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    """A transport adapter whose every new connection goes through the address guard."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        raise UnsafeDestination("Outbound requests do not go through proxies (the guard checks the real address).")


def guarded_session(*, user_agent: str, pool_connections: int = 8, pool_maxsize: int = 32) -> requests.Session:
    """Return a new session for outbound calls: the guard, no proxies from the environment, no urllib3 retries.

    No retries in urllib3: callers retry with backoff kept in the database, so a retry never blocks a worker.
    """
    session = requests.Session()
    session.trust_env = False
    adapter = GuardedAdapter(pool_connections=pool_connections, pool_maxsize=pool_maxsize, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = user_agent
    return session
