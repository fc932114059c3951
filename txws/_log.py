# -*- test-case-name: tests.test_protocol -*-
"""How log events name a connection's peer."""

from __future__ import annotations

from typing import Any

__all__ = ["peerText"]


def peerText(transport: Any) -> str:
    """C{host:port} (C{[host]:port} for IPv6) of C{transport}'s peer, or a stand-in."""
    try:
        peer = transport.getPeer()
    except Exception:
        return "peer"
    host = getattr(peer, "host", None)
    port = getattr(peer, "port", None)
    if host is None:
        return str(peer)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
