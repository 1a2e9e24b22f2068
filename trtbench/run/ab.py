"""Interleaved A/B, the CI primitive: the variants of two configurations measured in the same rounds on
the same machine. Round r runs A's variants, then B's, in ABBA order (A,B then B,A), each trial in a fresh
worker process (one per side and round with ``--isolation round``), so drift hits both sides alike and
each side's process-level variation is sampled every round; every trial is written as it ends (Ctrl-C keeps the rounds done). B's variants are paired
with A's by position and take A's ids; the gate then compares them round by round (paired).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from dataclasses import replace
from typing import List, Tuple

from trtbench.backends.registry import best_available
from trtbench.config.configure import configure
from trtbench.config.options import ALL_OPTIONS, add_argparse_options
from trtbench.config.parse import strict_int
from trtbench.errors import UserError
from trtbench.run.measure import host_timer_note
from trtbench.run.plan import plan_matrix
from trtbench.run.protocol import Arm
from trtbench.run.session import RunSession


def side_flags(text: str, side: str) -> List[str]:
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise UserError(f"bad --{side} flags {text!r} ({exc}): quote them as one shell word, e.g. --{side} \"-m x.onnx\"") \
            from None


def _side_values(common: dict, flags: List[str], side: str) -> dict:
    parser = argparse.ArgumentParser(prog=f"ab --{side}", add_help=False)
    add_argparse_options(parser, [o for o in ALL_OPTIONS if o.dest != "trials"])

    def error(message):
        raise UserError(f"bad --{side} flags {' '.join(flags)!r}: {message}")

    parser.error = error
    own = vars(parser.parse_args(flags))
    values = {k: v for k, v in common.items() if k in own}
    values.update({k: v for k, v in own.items() if v not in (None, False)})
    return values


def interleaved_ab(common: dict, a_text: str, b_text: str, rounds_text, results_dir: str) -> Tuple[str, str]:
    rounds = strict_int("--rounds", rounds_text, 2)
    sides = []
    for name, text in (("a", a_text), ("b", b_text)):
        matrix, settings, _ = configure(_side_values(common, side_flags(text, name), name), best_available)
        variants, excluded = plan_matrix(matrix, settings)
        sides.append((matrix, replace(settings, trials=rounds), variants, excluded))
    (ma, sa, va, ea), (mb, sb, vb, eb) = sides
    if len(va) != len(vb) or not va:
        raise UserError(f"A has {len(va)} variant(s) and B has {len(vb)}: give both the same axes so they pair up")
    if sb.isolation != sa.isolation or sb.order_seed != sa.order_seed:
        raise UserError("--isolation and --order-seed apply to both sides of ab: give them outside --a/--b")
    job = os.urandom(4).hex()
    arms = [Arm("A", va, [v.id for v in va], sa), Arm("B", vb, [v.id for v in va], sb)]
    session = RunSession(arms, results_dir, command=shlex.join(["trtbench"] + sys.argv[1:]),
                         matrices=[dict(ma.to_dict(), ab_side="A"), dict(mb.to_dict(), ab_side="B")],
                         excluded=[[e.to_dict() for e in ea], [e.to_dict() for e in eb]],
                         protocol_extra={"ab_job": job, "ab_rounds": rounds},
                         progress=_progress())
    outcome = session.run()
    if outcome.status != "complete":
        print(f"trtbench ab: {outcome.status}; the rounds measured so far are in {outcome.arms[0].path} and "
              f"{outcome.arms[1].path}", file=sys.stderr)
        raise KeyboardInterrupt
    return outcome.arms[0].path, outcome.arms[1].path


def _progress():
    described = []

    def say(kind: str, info: dict) -> None:
        if kind == "described":
            described.append(info["record"])
        if kind == "round" and info["round"] == 0:
            note = host_timer_note(described, False)
            if note:
                print(f"trtbench: note: {note}", file=sys.stderr, flush=True)
        _say(kind, info)
    return say


def _say(kind: str, info: dict) -> None:
    if kind == "round":
        print(f"ab round {info['round'] + 1}/{info['rounds']}", flush=True)
    elif kind == "warning":
        print(f"trtbench: warning: {info['message']}", file=sys.stderr, flush=True)
    elif kind == "described" and info["record"].status != "ok":
        r = info["record"]
        print(f"  {info['arm']} {r.id}: {r.status}: {r.reason}", flush=True)
    elif kind == "trial_failed":
        print(f"  {info['arm']} {info['record'].id}: trial failed: {info['reason']}", flush=True)
