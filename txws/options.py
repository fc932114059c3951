# -*- test-case-name: tests.test_options -*-
"""
The settings a factory shares with its connections, with their defaults:
the one place they are written (the twistd plugin takes them from here;
docs/reference/options.md is tested against them).
"""

from __future__ import annotations

import difflib
import inspect
import re
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from twisted.internet.interfaces import IReactorTime

from .extensions import ClientExtensionFactory, ServerExtensionFactory
from .http import checkToken
from .keepalive import Keepalive
from .metrics import Metrics

__all__ = ["Options", "OptionsKeywords", "checkOptionNames"]


def _checkDuration(name: str, value: float | None) -> None:
    if value is not None and (not isinstance(value, (int, float)) or value <= 0):
        raise ValueError(f"{name} must be a positive number of seconds or None")


def _checkSize(name: str, value: int | None) -> None:
    if value is not None and (not isinstance(value, int) or value <= 0):
        raise ValueError(f"{name} must be a positive number of bytes or None")


class OptionsKeywords(TypedDict, total=False):
    """
    The keyword options of L{Options}, for type checkers and IDEs: the
    functions that take C{**options} declare them with C{Unpack}.
    """

    maxSize: int | None | tuple[int | None, int | None]
    maxQueue: int | None
    writeLimit: int | None
    openTimeout: float | None
    closeTimeout: float | None
    pingInterval: float | None
    pingTimeout: float | None
    subprotocols: Sequence[str]
    extensions: Sequence[ServerExtensionFactory | ClientExtensionFactory]
    compression: str | None
    logFrames: bool
    metrics: Metrics | bool | None
    reactor: IReactorTime | None


class Options:
    """
    The settings a factory shares with all its connections.

    Every duration is in seconds and every size in bytes; C{None} disables a
    limit or a timer.

    @ivar maxSize: largest message accepted (after decompression); exactly
        C{maxSize} bytes is allowed. A larger one fails the connection
        with 1009. Default 1 MiB: a peer cannot make us buffer more than
        this per connection. Given as a C{(message, fragment)} pair, it
        sets L{maxFragmentSize} too, and this attribute is the first.
    @ivar maxFragmentSize: largest frame of a message accepted, as sent (a
        compressed frame's wire size); a larger one fails the connection
        with 1009 from its header. Default C{None}: only C{maxSize} applies.
    @ivar maxQueue: how many received messages may wait for L{recv
        <WebSocketProtocol.recv>} before we stop reading from the socket.
        Default 16. It is checked at the end of each read, once the read is
        parsed: the queue can pass it by the messages one read holds (a
        Twisted TCP transport reads at most 64 KiB at a time).
    @ivar writeLimit: high-water mark of the transport's write buffer: above
        it, L{send <WebSocketProtocol.send>} Deferreds wait and we stop
        reading too. Default 64 KiB. Twisted's TCP transports also read
        this many bytes at a time, so a smaller limit costs throughput on
        large messages (32 KiB: about 40% more CPU per MB).
    @ivar openTimeout: limit on the opening handshake. Default 10 s.
    @ivar closeTimeout: limit on the closing handshake, and on the wait for
        the server to close TCP after it. Default 10 s.
    @ivar pingInterval: send a keepalive ping this long after the last one
        was answered. Default 20 s.
    @ivar pingTimeout: fail the connection with 1011 if a keepalive ping is
        not answered within this time. Default 20 s.
    @ivar subprotocols: subprotocols offered (client) or supported, in order
        of preference (server). Default none.
    @ivar extensions: extension factories (L{txws.extensions}), in order of
        preference. Default none besides what C{compression} adds.
    @ivar compression: C{"deflate"} (the default) negotiates
        permessage-deflate (RFC 7692) with a 2**12-byte window and memLevel 5,
        to keep memory low; pass a factory from
        L{txws.extensions.permessage_deflate} in C{extensions} to tune it.
        C{None} turns compression off.
    @ivar keepalive: the L{Keepalive} that C{pingInterval} and
        C{pingTimeout} make, shared by the connections; C{None} without
        C{pingInterval}.
    @ivar logFrames: log every frame in and out at debug level (direction,
        opcode, fin, rsv, length and first bytes), for debugging. Default
        off, and then it costs nothing.
    @ivar metrics: the L{Metrics} the connections count into (C{True}
        makes one for this factory; pass one to share it between
        factories), exported by L{txws.prometheus}; C{None} when off, the
        default, and then counting costs nothing.
    @ivar reactor: the reactor (an C{IReactorTime} at least) used for timers;
        default the global reactor.
    """

    __slots__ = (
        "maxSize",
        "maxFragmentSize",
        "maxQueue",
        "writeLimit",
        "openTimeout",
        "closeTimeout",
        "pingInterval",
        "pingTimeout",
        "keepalive",
        "subprotocols",
        "extensions",
        "compression",
        "logFrames",
        "metrics",
        "reactor",
    )

    def __init__(
        self,
        *,
        maxSize: int | None | tuple[int | None, int | None] = 2**20,
        maxQueue: int | None = 16,
        writeLimit: int | None = 2**16,
        openTimeout: float | None = 10.0,
        closeTimeout: float | None = 10.0,
        pingInterval: float | None = 20.0,
        pingTimeout: float | None = 20.0,
        subprotocols: Sequence[str] = (),
        extensions: Sequence[ServerExtensionFactory | ClientExtensionFactory] = (),
        compression: str | None = "deflate",
        logFrames: bool = False,
        metrics: Metrics | bool | None = None,
        reactor: IReactorTime | None = None,
    ) -> None:
        maxFragmentSize = None
        if isinstance(maxSize, tuple):
            if len(maxSize) != 2:
                raise ValueError("maxSize must be a size, None, or a (message, fragment) pair")
            maxSize, maxFragmentSize = maxSize
            _checkSize("maxSize's fragment size", maxFragmentSize)
        _checkSize("maxSize", maxSize)
        _checkSize("maxQueue", maxQueue)
        _checkSize("writeLimit", writeLimit)
        for name, value in (
            ("openTimeout", openTimeout),
            ("closeTimeout", closeTimeout),
            ("pingInterval", pingInterval),
            ("pingTimeout", pingTimeout),
        ):
            _checkDuration(name, value)
        if isinstance(subprotocols, str):
            raise TypeError("subprotocols must be a sequence of strings")
        for name in subprotocols:
            checkToken(name, "subprotocols")
        self.maxSize: int | None = maxSize
        self.maxFragmentSize: int | None = maxFragmentSize
        self.maxQueue = maxQueue
        self.writeLimit = writeLimit
        self.openTimeout = openTimeout
        self.closeTimeout = closeTimeout
        self.pingInterval = pingInterval
        self.pingTimeout = pingTimeout
        self.keepalive = Keepalive(pingInterval, pingTimeout) if pingInterval is not None else None
        if compression not in ("deflate", None):
            raise ValueError('compression must be "deflate" or None')
        self.subprotocols = list(subprotocols)
        self.extensions = list(extensions)
        if compression == "deflate" and not any(
            e.name == "permessage-deflate" for e in self.extensions
        ):
            deflate = self.defaultDeflate()
            if deflate is not None:
                self.extensions.append(deflate)
        self.compression = compression
        if not isinstance(logFrames, bool):
            raise TypeError("logFrames must be True or False")
        self.logFrames = logFrames
        if metrics is True:
            metrics = Metrics()
        elif metrics is False:
            metrics = None
        elif metrics is not None and not isinstance(metrics, Metrics):
            raise TypeError("metrics must be a txws.metrics.Metrics, True, False or None")
        self.metrics: Metrics | None = metrics
        self.reactor = reactor

    def defaultDeflate(self) -> ServerExtensionFactory | ClientExtensionFactory | None:
        """Hook for the sides: the permessage-deflate factory that C{compression="deflate"} adds."""
        return None

    def getReactor(self) -> Any:
        """L{reactor}, or the global reactor if none was given."""
        if self.reactor is None:
            from twisted.internet import reactor

            self.reactor = reactor
        return self.reactor


# websockets' names whose camelCase is not ours.
_RENAMED = {"extra_headers": "additionalHeaders"}

_names: dict[type, frozenset[str]] = {}


def optionNames(optionsClass: type[Options]) -> frozenset[str]:
    """The keyword options C{optionsClass} accepts."""
    names = _names.get(optionsClass)
    if names is None:
        # Each side's class takes its own keywords and passes the rest on.
        found: set[str] = set()
        for cls in optionsClass.__mro__:
            init = cls.__dict__.get("__init__")
            if init is not None and cls is not object:
                parameters = inspect.signature(init).parameters.values()
                found.update(p.name for p in parameters if p.kind is p.KEYWORD_ONLY)
        names = _names[optionsClass] = frozenset(found)
    return names


def _suggest(name: str, accepted: frozenset[str]) -> str | None:
    camel = _RENAMED.get(name) or re.sub(r"_([a-z])", lambda m: m[1].upper(), name)
    if camel in accepted:
        return camel
    byLower = {a.lower(): a for a in accepted}
    if name.replace("_", "").lower() in byLower:
        return byLower[name.replace("_", "").lower()]
    close = difflib.get_close_matches(camel, sorted(accepted), n=1, cutoff=0.75)
    return close[0] if close else None


def checkOptionNames(call: str, options: Mapping[str, object], optionsClass: type[Options]) -> None:
    """
    Raise C{TypeError} for a keyword C{call} does not take, naming C{call}
    and suggesting the option that was meant (C{max_size}: C{maxSize}).
    """
    accepted = optionNames(optionsClass)
    for name in options:
        if name not in accepted:
            hint = _suggest(name, accepted)
            raise TypeError(
                f"{call}() got an unexpected keyword argument {name!r}"
                + (f"; did you mean {hint!r}?" if hint else "")
            )
