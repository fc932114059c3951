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
