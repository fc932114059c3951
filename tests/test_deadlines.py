"""
L{txws.deadlines.Deadlines}: many timeouts of one delay behind one timer,
firing exactly when a C{callLater} per item would.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock

from txws.deadlines import Deadlines


@dataclass
class Item:
    """Unhashable (a dataclass with eq): items are told apart by identity."""

    name: str


def test_firesAfterTheDelay() -> None:
    clock = Clock()
    fired: list[Item] = []
    deadlines = Deadlines(10, fired.append)
    a = Item("a")
    deadlines.add(a, clock)
    clock.advance(9.9)
    assert fired == []
    clock.advance(0.1)
    assert fired == [a]
    assert clock.getDelayedCalls() == [] and len(deadlines) == 0


def test_oneTimerForEveryItem() -> None:
    clock = Clock()
    fired: list[Item] = []
    deadlines = Deadlines(10, fired.append)
    items = [Item(str(i)) for i in range(5)]
    for item in items:
        deadlines.add(item, clock)
        clock.advance(1)
    assert len(clock.getDelayedCalls()) == 1 and len(deadlines) == 5
    clock.advance(5)
    assert fired == items[:1]
    clock.advance(4)
    assert fired == items


def test_discardedItemsDoNotFire() -> None:
    clock = Clock()
    fired: list[Item] = []
    deadlines = Deadlines(10, fired.append)
    a, b = Item("a"), Item("b")
    deadlines.add(a, clock)
    deadlines.add(b, clock)
    deadlines.discard(a, clock)
    clock.advance(10)
    assert fired == [b]
    deadlines.discard(b, clock)  # (no longer there: nothing happens)


def test_nothingLeftOnTheReactorOnceEmpty() -> None:
    clock = Clock()
    deadlines: Deadlines[Item] = Deadlines(10, lambda item: None)
    a = Item("a")
    deadlines.add(a, clock)
    deadlines.discard(a, clock)
    assert clock.getDelayedCalls() == []
    assert len(deadlines) == 0


def test_addingAgainMovesTheDeadline() -> None:
    clock = Clock()
    fired: list[Item] = []
    deadlines = Deadlines(10, fired.append)
    a, b = Item("a"), Item("b")
    deadlines.add(a, clock)
    deadlines.add(b, clock)
    clock.advance(5)
    deadlines.add(a, clock)
    clock.advance(5)
    assert fired == [b]
    clock.advance(5)
    assert fired == [b, a]


def test_aShorterDelayWaitsForTheDeadlinesBeforeIt() -> None:
    clock = Clock()
    fired: list[Item] = []
    deadlines = Deadlines(10, fired.append)
    a, b = Item("a"), Item("b")
    deadlines.add(a, clock)
    deadlines.add(b, clock, delay=2)
    clock.advance(9)
    assert fired == []
    clock.advance(1)
    assert fired == [a, b]


def test_clocksAreApart() -> None:
    one, other = Clock(), Clock()
    fired: list[Item] = []
    deadlines = Deadlines(10, fired.append)
    a, b = Item("a"), Item("b")
    deadlines.add(a, one)
    deadlines.add(b, other)
    one.advance(10)
    assert fired == [a]
    deadlines.discard(b, one)  # (not on that clock)
    other.advance(10)
    assert fired == [a, b]


def test_clocksStayApartAsTheyComeAndGo() -> None:
    """The first clock's deadlines end while another's wait: each keeps its own."""
    one, other = Clock(), Clock()
    fired: list[str] = []
    deadlines = Deadlines(10, lambda item: fired.append(item.name))
    a, b, c, d = Item("a"), Item("b"), Item("c"), Item("d")
    deadlines.add(a, one)
    deadlines.add(b, other)
    deadlines.discard(a, one)
    deadlines.add(c, other)
    deadlines.add(d, one)
    deadlines.discard(b, other)
    assert len(deadlines) == 2
    other.advance(10)
    one.advance(10)
    assert fired == ["c", "d"]
    assert one.getDelayedCalls() == [] and other.getDelayedCalls() == []
    assert len(deadlines) == 0


def test_firingMayAddAndDiscard() -> None:
    clock = Clock()
    fired: list[str] = []
    a, b, c = Item("a"), Item("b"), Item("c")

    def fire(item: Item) -> None:
        fired.append(item.name)
        if item is a and fired.count("a") == 1:
            deadlines.add(a, clock)  # again, a delay from now
            deadlines.discard(b, clock)

    deadlines = Deadlines(10, fire)
    deadlines.add(a, clock)
    deadlines.add(b, clock)
    clock.advance(5)
    deadlines.add(c, clock)
    clock.advance(5)
    assert fired == ["a"]
    clock.advance(5)
    assert fired == ["a", "c"]
    clock.advance(5)
    assert fired == ["a", "c", "a"]
    assert clock.getDelayedCalls() == []


def test_firingMayAddOnAnotherClock() -> None:
    one, other = Clock(), Clock()
    fired: list[str] = []
    a, b = Item("a"), Item("b")

    def fire(item: Item) -> None:
        fired.append(item.name)
        if item is a:
            deadlines.add(b, other)

    deadlines = Deadlines(10, fire)
    deadlines.add(a, one)
    one.advance(10)
    assert one.getDelayedCalls() == [] and len(other.getDelayedCalls()) == 1
    other.advance(10)
    assert fired == ["a", "b"]


def test_anErrorLeavesTheRestToFire() -> None:
    clock = Clock()
    fired: list[Item] = []
    a, b = Item("a"), Item("b")

    def fire(item: Item) -> None:
        fired.append(item)
        if item is a:
            raise RuntimeError("boom")

    deadlines = Deadlines(10, fire)
    deadlines.add(a, clock)
    deadlines.add(b, clock)
    with pytest.raises(RuntimeError):
        clock.advance(10)
    clock.advance(0)
    assert fired == [a, b]


def test_negativeDelayIsRefused() -> None:
    with pytest.raises(ValueError, match="delay"):
        Deadlines(-1, lambda item: None)


steps = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 5)),
        st.tuples(st.just("discard"), st.integers(0, 5)),
        st.tuples(
            st.just("advance"),
            st.one_of(st.sampled_from([0, 0.1, 0.3, 1 / 3, 2.5, 10]), st.floats(0, 3)),
        ),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(delay=st.one_of(st.sampled_from([0, 0.1, 0.3, 2.5]), st.floats(0, 3)), steps=steps)
def test_sameAsACallLaterPerItem(delay: float, steps: list[tuple[str, float]]) -> None:
    """
    Whatever is added, discarded and waited for, the items fire when and in
    the order they would with a C{callLater} each (float sums and all).
    """
    clock, reference = Clock(), Clock()
    items = [Item(str(i)) for i in range(6)]
    fired: list[str] = []
    expected: list[str] = []
    deadlines = Deadlines(delay, lambda item: fired.append(item.name))
    calls: dict[int, object] = {}

    def referenceFire(i: int) -> None:
        del calls[i]
        expected.append(items[i].name)

    for action, value in steps:
        if action == "add":
            i = int(value)
            deadlines.add(items[i], clock)
            if i in calls:
                calls.pop(i).cancel()  # type: ignore[attr-defined]
            calls[i] = reference.callLater(delay, referenceFire, i)
        elif action == "discard":
            i = int(value)
            deadlines.discard(items[i], clock)
            if i in calls:
                calls.pop(i).cancel()  # type: ignore[attr-defined]
        else:
            clock.advance(value)
            reference.advance(value)
        assert fired == expected
    assert len(deadlines) == len(calls)
    assert (clock.getDelayedCalls() == []) == (calls == {})
