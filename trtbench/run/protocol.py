"""The measurement protocol: which trial runs when, and where.

1. **Build pass**: every variant is described once (engines built or fetched from the cache, outputs
   checked against the reference) before any trial, so no trial measures a cold build.
2. **Rounds**: trial ``r`` of every variant runs in round ``r``. Inside a round the variants' order is
   shuffled (``random.Random(f"{seed}:{round}")``, the seed recorded), so slow drift (clocks,
   temperature, neighbours) spreads over the matrix instead of hitting whichever variant runs last.
   Each trial runs in its own worker process (``isolation`` process; ``round``: one worker per round and
   arm; ``inline``: this process); each trial warms up first.
3. **Arms** (``trtbench ab``): several configurations measured in the same rounds. Round ``r`` runs
   each arm's batch of trials in turn, alternating the arms' order ABBA (A,B then B,A), so both sides see
   the same drift and each side's process-level variation is sampled on every round.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import List, Optional, Sequence

from trtbench.config.settings import RunSettings
from trtbench.matrix.spec import Variant
from trtbench.run.executor import Task


@dataclass
class Arm:
    """One configuration measured by the session: its variants, their record ids, its settings."""

    name: str  # "" for a plain run; "A", "B" for ab
    variants: List[Variant]
    ids: List[str]
    settings: RunSettings
    artifacts_dir: Optional[str] = None
    active: List[int] = field(default_factory=list)  # positions whose build pass succeeded

    def key(self, i: int) -> str:
        return f"{self.name}:{self.ids[i]}"


def round_order(n: int, seed: int, rnd: int) -> List[int]:
    order = list(range(n))
    random.Random(f"{seed}:{rnd}").shuffle(order)
    return order


def arm_order(n_arms: int, rnd: int) -> List[int]:
    """ABBA: arm order forward on even rounds, reversed on odd ones."""
    order = list(range(n_arms))
    return order if rnd % 2 == 0 else order[::-1]


def describe_tasks(arm: Arm) -> List[Task]:
    return [Task("describe", arm.key(i), v, arm.settings, arm.ids[i], arm.artifacts_dir)
            for i, v in enumerate(arm.variants)]


def round_tasks(arms: Sequence[Arm], seed: int, rnd: int) -> List[List[Task]]:
    """The task batches of round ``rnd``, one batch per arm (a worker per trial, or per batch with isolation
    round), in ABBA order. The arms of one round share the variants' shuffled order, so paired variants run
    at the same place."""
    batches = []
    for a in arm_order(len(arms), rnd):
        arm = arms[a]
        if not arm.active:
            continue
        order = [arm.active[j] for j in round_order(len(arm.active), seed, rnd)]
        batches.append([Task("trial", arm.key(i), arm.variants[i], arm.settings, arm.ids[i], arm.artifacts_dir,
                             index=rnd, round=rnd, position=p) for p, i in enumerate(order)])
    return batches


def draw_seed() -> int:
    return random.SystemRandom().randrange(1 << 31)
