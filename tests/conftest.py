from __future__ import annotations

import pytest
from twisted.logger import globalLogPublisher


@pytest.fixture
def logEvents():
    """Every twisted.logger event emitted during the test."""
    events: list[dict] = []
    globalLogPublisher.addObserver(events.append)
    yield events
    globalLogPublisher.removeObserver(events.append)


PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture(autouse=True)
def noProxyFromTheEnvironment(monkeypatch):
    """
    connect() honours the proxy variables by default; the tests reach
    loopback servers, so none of the machine's apply (tests that are about
    them set their own).
    """
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
