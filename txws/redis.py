# -*- test-case-name: tests.test_redis -*-
"""
A L{Backplane <txws.groups.Backplane>} on Redis pub/sub, with
C{txredisapi} (the C{redis} extra: C{pip install 'twisted-websockets[redis]'}).

Each process keeps one connection that publishes and one that subscribes
(to the channel of each group with members here); a group message is
published once, and every other process sends it to its own members. The
semantics are Redis pub/sub's: at most once, no replay, order kept per
publisher only. While Redis is away, nothing is published or received
(local delivery goes on, and no WebSocket connection is closed); both
connections come back with backoff, and the subscriptions are made again.
Redis drops a subscriber that reads too slowly
(C{client-output-buffer-limit pubsub}); it then reconnects like this too.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from twisted.internet import defer
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.logger import Logger

from .writer import setNoDelay

try:
    import txredisapi  # type: ignore[import-untyped]
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError("txws.redis needs txredisapi: pip install 'twisted-websockets[redis]'") from e

__all__ = ["RedisBackplane", "parseRedisURL"]

log = Logger()

Message = str | bytes

_TEXT, _BINARY = b"t", b"b"
# A published payload: our origin id (8 bytes), then each message as its
# length (4 bytes, big-endian, kind included), its kind and its bytes.
_LENGTH = struct.Struct("!I")


def parseRedisURL(url: str) -> tuple[str, int, int | None, str | None]:
    """C{redis://[:password@]host[:port][/db]}: (host, port, db, password); C{ValueError} if not."""
    parts = urlsplit(url)
    try:
        port = parts.port or 6379
    except ValueError as e:
        raise ValueError(f"redis URL {url!r}: {e}") from None
    if parts.scheme != "redis" or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(f"redis URL must be redis://host[:port][/db], not {url!r}")
    path = parts.path.strip("/")
    if path and not path.isdigit():
        raise ValueError(f"redis URL {url!r}: the database must be a number")
    password = unquote(parts.password) if parts.password is not None else None
    return parts.hostname, port, int(path) if path else None, password


class RedisBackplane:
    """
    Group messages between processes through the Redis at C{url}
    (C{redis://host:port/db}), on channels named C{prefix} + the group.

    C{initialDelay} and C{maxDelay} bound the backoff between attempts to
    reach Redis again (seconds).
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "txws:",
        reactor: Any = None,
        initialDelay: float = 0.5,
        maxDelay: float = 10.0,
    ) -> None:
        self.url = url
        self.host, self.port, self.db, self.password = parseRedisURL(url)
        if reactor is None:
            from twisted.internet import reactor
        self.reactor = reactor
        self.prefix = prefix.encode()
        self.initialDelay = initialDelay
        self.maxDelay = maxDelay
        # Messages of our own come back from Redis: they were delivered here already.
        self.origin = os.urandom(8)
        self.channels: set[bytes] = set()
        # Those whose subscription Redis confirmed, on the current connection.
        self.confirmed: set[bytes] = set()
        self.deliver: Callable[[str, Message], object] | None = None
        self.publisher: Any = None
        self.subscriber: Any = None
        self.up = False
        self.wasUp = False
        self._factories: list[Any] = []
        self._pending: dict[str, list[bytes]] = {}

    def __repr__(self) -> str:
        return f"<RedisBackplane {self.host}:{self.port} {'up' if self.up else 'down'}>"

    # -- Backplane ---------------------------------------------------------------

    def start(self, deliver: Callable[[str, Message], object]) -> None:
        self.deliver = deliver
        for protocol in (_Publisher, _Subscriber):
            factory = txredisapi.RedisFactory(
                f"{self.host}:{self.port}",
                self.db,
                1,
                isLazy=True,
                charset=None,
                password=self.password,
                convertNumbers=False,
            )
            factory.protocol = protocol
            factory.backplane = self
            factory.initialDelay = self.initialDelay
            factory.maxDelay = self.maxDelay
            factory.startConnecting(TCP4ClientEndpoint(self.reactor, self.host, self.port))
            self._factories.append(factory)

    def subscribe(self, group: str) -> None:
        channel = self.prefix + group.encode()
        self.channels.add(channel)
        if self.subscriber is not None:
            self._subscribe(self.subscriber, [channel])

    def unsubscribe(self, group: str) -> None:
        channel = self.prefix + group.encode()
        self.channels.discard(channel)
        self.confirmed.discard(channel)
        if self.subscriber is not None:
            self.subscriber.unsubscribe(channel).addErrback(self._failed, "unsubscribe")

    def publish(self, group: str, message: Message) -> None:
        if self.publisher is None:
            return  # Redis is away: at most once.
        if isinstance(message, str):
            entry = _TEXT + message.encode()
        else:
            entry = _BINARY + message
        # The messages of one reactor turn go in one PUBLISH per group, so
        # that other processes get them in one read too and write each of
        # their members one batch, not one send per message.
        pending = self._pending
        if not pending:
            self.reactor.callLater(0, self._flush)
        pending.setdefault(group, []).append(_LENGTH.pack(len(entry)) + entry)

    def _flush(self) -> None:
        pending, self._pending = self._pending, {}
        publisher = self.publisher
        if publisher is None:
            return
        for group, entries in pending.items():
            payload = self.origin + b"".join(entries)
            publisher.publish(self.prefix + group.encode(), payload).addErrback(
                self._failed, "publish"
            )

    def stop(self) -> defer.Deferred[None]:
        factories, self._factories = self._factories, []
        self.deliver = None
        d = defer.gatherResults([f.disconnect() for f in factories], consumeErrors=True)
        return d.addCallback(lambda _: None)

    # -- What the Redis connections tell us ---------------------------------------

    def connectionReady(self, protocol: Any) -> None:
        if isinstance(protocol, _Subscriber):
            self.subscriber = protocol
            if self.channels:
                self._subscribe(protocol, list(self.channels))
        else:
            self.publisher = protocol
        self._changed()

    def connectionGone(self, protocol: Any) -> None:
        if protocol is self.subscriber:
            self.subscriber = None
            self.confirmed.clear()
        elif protocol is self.publisher:
            self.publisher = None
        self._changed()

    def received(self, channel: bytes, payload: bytes) -> None:
        deliver = self.deliver
        if deliver is None or not channel.startswith(self.prefix) or len(payload) < 8:
            return
        if payload[:8] == self.origin:
            return
        group = channel[len(self.prefix) :].decode("utf-8", "replace")
        pos, end = 8, len(payload)
        while pos + 5 <= end:
            (size,) = _LENGTH.unpack_from(payload, pos)
            entry = payload[pos + 4 : pos + 4 + size]
            pos += 4 + size
            if len(entry) != size or not entry:
                return  # not ours: another program on the channel
            kind, data = entry[:1], entry[1:]
            if kind == _TEXT:
                try:
                    message: Message = data.decode("utf-8")
                except UnicodeDecodeError:
                    continue
            elif kind == _BINARY:
                message = data
            else:
                return
            deliver(group, message)

    def _changed(self) -> None:
        up = self.publisher is not None and self.subscriber is not None
        if up == self.up:
            return
        self.up = up
        if up:
            if self.wasUp:
                log.info(
                    "Redis backplane {url} is back; group messages cross processes again",
                    url=self._safeURL(),
                )
            else:
                log.info("Redis backplane {url} connected", url=self._safeURL())
            self.wasUp = True
        elif self.deliver is not None:
            log.warn(
                "Redis backplane {url} lost: group messages reach this process only"
                " until it is back",
                url=self._safeURL(),
            )

    def _subscribe(self, protocol: Any, channels: list[bytes]) -> None:
        def confirmed(_: object) -> None:
            if protocol is self.subscriber:
                self.confirmed.update(c for c in channels if c in self.channels)

        protocol.subscribe(channels).addCallbacks(
            confirmed, self._failed, errbackArgs=("subscribe",)
        )

    def _failed(self, failure: Any, what: str) -> None:
        log.debug("Redis {what} failed: {why}", what=what, why=failure.getErrorMessage())

    def _safeURL(self) -> str:
        return f"redis://{self.host}:{self.port}" + (f"/{self.db}" if self.db is not None else "")


class _ToBackplane:
    """What both Redis connections tell the backplane: ready (after AUTH and
    SELECT), and gone."""

    connected: int
    factory: Any
    transport: Any

    def connectionMade(self) -> Any:
        # Group messages are small and come in bursts.
        setNoDelay(self.transport)
        d = super().connectionMade()  # type: ignore[misc]
        d.addCallback(lambda _: self._backplaneReady())
        return d

    def _backplaneReady(self) -> None:
        if self.connected:
            self.factory.backplane.connectionReady(self)

    def connectionLost(self, reason: Any) -> Any:
        self.factory.backplane.connectionGone(self)
        return super().connectionLost(reason)  # type: ignore[misc]


class _Publisher(_ToBackplane, txredisapi.RedisProtocol):
    pass


class _Subscriber(_ToBackplane, txredisapi.SubscriberProtocol):
    def messageReceived(self, pattern: Any, channel: bytes, message: bytes) -> None:
        self.factory.backplane.received(channel, message)
