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


class ScriptedBackend:
    """A backend double for the *session's* logic (build pass, rounds, order, trials, statistics); never
    evidence that a real backend works. Its stages do nothing; its timer is the real ``HostStageTimer`` on a
    ``FakeClock``: trial k of a variant (counted over the session) reads a clock that advances by
    ``script[model name][k]`` (a list of steps in ns, cycled) per reading, so its samples are exactly known.
    ``log`` collects ("make" | "trial" | "release", variant id) events in order."""

    @staticmethod
    def factory(script, log):
        from trtbench.backends.base import Backend
        from trtbench.backends.prepare import PreparedModel
        from trtbench.backends.registry import Availability
        from trtbench.models.inspect import ModelInfo, TensorInfo
        from trtbench.timing.host_timer import HostStageTimer

        class _Scripted(Backend):
            name = "scripted"

            @classmethod
            def availability(cls):
                return Availability("scripted", True, "0", None, "cpu")

            def __init__(self, variant, settings):
                b = variant.batch
                x, y = TensorInfo("x", "float32", (b, 4)), TensorInfo("y", "float32", (b, 4))
                shapes = {"x": (b, 4)}
                super().__init__(variant, settings, PreparedModel(None, ModelInfo((x,), (y,), 17, 8, "fake", 1, 0),
                                                                  shapes, shapes, shapes, shapes))
                self.facts = {"runtime_version": "scripted (test double)"}
                log.append(("make", variant.id))

            def stage_timer(self):
                backend = self

                class _Timer:
                    name = "host"

                    def run(self, calls, plan):
                        k = sum(1 for e in log if e == ("trial", backend.variant.id))
                        log.append(("trial", backend.variant.id))
                        steps = script[backend.variant.model.name]
                        return HostStageTimer(FakeClock(steps[k % len(steps)])).run(calls, plan)

                return _Timer()

            def _prepare(self):
                pass

            def _load(self):
                pass

            def _bind(self, feeds):
                self.feeds = feeds

            def _h2d(self, stream):
                pass

            def _compute(self, stream):
                pass

            def _d2h(self, stream):
                pass

            def _outputs(self):
                return {"y": self.feeds["x"]}

            def _release(self):
                log.append(("release", self.variant.id))

        return _Scripted
