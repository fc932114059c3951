# -*- test-case-name: tests.test_tap -*-
"""
The C{twistd websocket} plugin: serve a handler with no other code::

    twistd -n websocket --handler examples.echo.echo [--port tcp:8765] ...

The plugin itself is C{twisted/plugins/txws_plugin.py}; this module holds
its options and builds its service.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from typing import Any

from twisted.application.service import IService
from twisted.logger import Logger
from twisted.python import usage

from .server import ServerOptions
from .service import WebSocketService

__all__ = ["Options", "makeService", "importHandler"]

DEFAULT_PORT = "tcp:8765"

log = Logger()


def importHandler(name: str) -> Callable:
    """
    Import C{MODULE.ATTR} with the current directory importable, as
    C{python -m} does; raise C{usage.UsageError} with one line on failure.
    """
    module, _, attr = name.rpartition(".")
    if not module or not attr:
        raise usage.UsageError(f"--handler must be MODULE.ATTR, not {name!r}")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        imported = importlib.import_module(module)
    except ImportError as e:
        raise usage.UsageError(f"cannot import module {module!r} for --handler: {e}") from None
    except Exception as e:
        raise usage.UsageError(
            f"importing {module!r} for --handler failed: {type(e).__name__}: {e}"
        ) from None
    try:
        handler = getattr(imported, attr)
    except AttributeError:
        raise usage.UsageError(f"module {module!r} has no attribute {attr!r}") from None
    if not callable(handler):
        raise usage.UsageError(f"{name} is not callable")
    return handler


def _optional(kind: Callable[[str], Any], what: str) -> Callable[[str], Any]:
    """
    A coercer for a positive number, or 'none' to disable the limit. It
    runs in L{Options.postOptions}, not as usage's coercer, so that its
    error can name the flag (usage would say "Parameter type enforcement
    failed").
    """

    def coerce(value: str) -> Any:
        if value.lower() == "none":
            return None
        try:
            number = kind(value)
        except ValueError:
            raise ValueError(f"must be {what} or 'none', not {value!r}") from None
        if number <= 0:
            raise ValueError(f"must be positive, not {value!r}")
        return number

    coerce.__doc__ = f"({what}, or 'none')"
    return coerce


_size = _optional(int, "a number of bytes")
_count = _optional(int, "a whole number")
_seconds = _optional(float, "a number of seconds")


# The limits and timers, each as (flag, ServerOptions attribute, help,
# coercer): their defaults are ServerOptions' own.
DEFAULTS = ServerOptions()
LIMITS = [
    ("max-size", "maxSize", "Largest message accepted, in bytes", _size),
    ("max-queue", "maxQueue", "Received messages kept unread before reading stops", _count),
    ("write-limit", "writeLimit", "Unsent bytes above which sending waits", _size),
    ("open-timeout", "openTimeout", "Limit on the opening handshake, seconds", _seconds),
    ("close-timeout", "closeTimeout", "Limit on the closing handshake, seconds", _seconds),
    ("ping-interval", "pingInterval", "Seconds between keepalive pings", _seconds),
    ("ping-timeout", "pingTimeout", "Seconds a keepalive ping may go unanswered", _seconds),
    ("max-connections", "maxConnections", "Most open connections (beyond: 503)", _count),
]


class Options(usage.Options):
    synopsis = "--handler MODULE.ATTR [options]"
    longdesc = (
        "Serve a WebSocket handler: MODULE.ATTR is called with each connection "
        "(it may be an async function). Every --port is listened on; "
        "--static serves a directory over HTTP on the same ports, with the "
        "WebSocket at --path. SIGTERM or SIGINT closes every connection with "
        "1001 before exiting."
    )

    optFlags = [
        ["no-compression", None, "Do not negotiate permessage-deflate."],
        ["log-frames", None, "Log every frame in and out (debug level), for debugging."],
    ]
    optParameters = [
        ["handler", None, None, "The handler, as MODULE.ATTR (required)."],
        *(
            [flag, None, getattr(DEFAULTS, attribute), f"{help} {coerce.__doc__}."]
            for flag, attribute, help, coerce in LIMITS
        ),
        ["static", None, None, "Serve the files of this directory over HTTP too."],
        ["path", None, "/ws", "With --static: the WebSocket's path."],
        [
            "redis",
            None,
            None,
            "Share groups with every process on this Redis, redis://HOST:PORT/DB"
            " (needs the redis extra).",
        ],
        [
            "metrics",
            None,
            None,
            "Serve Prometheus metrics at this path, on the same ports (needs the metrics extra).",
        ],
    ]

    def __init__(self) -> None:
        super().__init__()
        self["ports"] = []
        self["workers"] = 1
        self["subprotocols"] = []
        self["origins"] = []

    def opt_workers(self, count: str) -> None:
        """Worker processes serving the ports, one per core say (default 1)."""
        try:
            self["workers"] = int(count)
        except ValueError:
            raise usage.UsageError(f"--workers must be a whole number, not {count!r}") from None
        if self["workers"] < 1:
            raise usage.UsageError(f"--workers must be at least 1, not {count!r}")

    def opt_port(self, description: str) -> None:
        """A strports endpoint to listen on (repeatable; default tcp:8765)."""
        self["ports"].append(description)

    opt_p = opt_port

    def opt_subprotocol(self, name: str) -> None:
        """A supported subprotocol, in order of preference (repeatable)."""
        self["subprotocols"].append(name)

    def opt_origin(self, origin: str) -> None:
        """An accepted Origin; 'none' accepts requests without one (repeatable)."""
        self["origins"].append(None if origin.lower() == "none" else origin)

    def postOptions(self) -> None:
        if not self["handler"]:
            raise usage.UsageError("--handler MODULE.ATTR is required")
        for flag, _, _, coerce in LIMITS:
            if isinstance(self[flag], str):
                try:
                    self[flag] = coerce(self[flag])
                except ValueError as e:
                    raise usage.UsageError(f"--{flag} {e}") from None
        self["handlerName"] = self["handler"]
        self["handler"] = importHandler(self["handler"])
        if not self["ports"]:
            self["ports"] = [DEFAULT_PORT]
        from twisted.internet import reactor
        from twisted.internet.endpoints import serverFromString

        for description in self["ports"]:
            try:
                serverFromString(reactor, description)
            except (ValueError, KeyError, TypeError) as e:
                raise usage.UsageError(f"invalid --port {description!r}: {e}") from None
        static = self["static"]
        if static is not None and not os.path.isdir(static):
            raise usage.UsageError(f"--static {static!r} is not a directory")
        if not self["path"].startswith("/") or self["path"].strip("/") == "":
            raise usage.UsageError("--path must start with / and name a path below it")
        if self["redis"] is not None:
            try:
                from .redis import parseRedisURL

                parseRedisURL(self["redis"])
            except (ImportError, ValueError) as e:
                raise usage.UsageError(f"--redis: {e}") from None
        metrics = self["metrics"]
        if metrics is not None:
            if not metrics.startswith("/") or metrics.strip("/") == "":
                raise usage.UsageError("--metrics must start with / and name a path below it")
            if static is not None and metrics.rstrip("/") == self["path"].rstrip("/"):
                raise usage.UsageError("--metrics and --path must differ")
            try:
                import txws.prometheus  # noqa: F401
            except ImportError as e:
                raise usage.UsageError(f"--metrics: {e}") from None
            if self["workers"] > 1:
                raise usage.UsageError(
                    "--metrics with --workers: each worker would answer with its own"
                    " counters; not supported yet"
                )
        if self["workers"] > 1:
            from twisted.internet.interfaces import IReactorSocket

            if not IReactorSocket.providedBy(reactor):
                raise usage.UsageError("--workers needs a reactor that can adopt sockets")
            for description in self["ports"]:
                if not description.startswith(("tcp:", "ssl:")):
                    raise usage.UsageError(
                        f"--workers serves tcp: and ssl: ports, not {description!r}"
                    )


def makeService(options: Options) -> IService:
    """The service for C{twistd websocket}."""
    settings: dict[str, Any] = dict(
        static=options["static"],
        path=options["path"],
        redis=options["redis"],
        **{attribute: options[flag] for flag, attribute, _, _ in LIMITS},
        subprotocols=options["subprotocols"],
        origins=options["origins"] or None,
        compression=None if options["no-compression"] else "deflate",
        logFrames=bool(options["log-frames"]),
    )
    if options["workers"] > 1:
        from .workers import WorkersService

        if options["redis"] is None:
            log.warn(
                "With --workers {count} and no --redis, groups reach only the"
                " connections of one worker process",
                count=options["workers"],
            )
        return WorkersService(
            options["workers"],
            options["ports"],
            dict(settings, handler=options["handlerName"]),
            closeTimeout=options["close-timeout"],
        )
    return WebSocketService(
        options["ports"], options["handler"], metricsPath=options["metrics"], **settings
    )
