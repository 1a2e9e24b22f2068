"""Test doubles for *our* logic. Named as fakes; never evidence that a GPU or TensorRT path works."""

from __future__ import annotations

from typing import List


class FakeClock:
    """A deterministic clock: each ``now_ns`` call advances by the next step (cycling)."""

    name = "fake"

    def __init__(self, steps_ns: List[int]) -> None:
        self.t = 0
        self.steps = steps_ns
        self.i = 0

    def now_ns(self) -> int:
        self.t += self.steps[self.i % len(self.steps)]
        self.i += 1
        return self.t


class FakeStages:
    """Stage calls that only count how often each stage ran."""

    def __init__(self) -> None:
        self.calls = {"h2d": 0, "compute": 0, "d2h": 0}

    def h2d(self, stream) -> None:
        self.calls["h2d"] += 1

    def compute(self, stream) -> None:
        self.calls["compute"] += 1

    def d2h(self, stream) -> None:
        self.calls["d2h"] += 1
