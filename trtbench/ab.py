"""Interleaved A/B: run the variants of two candidates alternately on the same machine (ABBA order), so
slow drift (clocks, temperature, neighbours) hits both alike; each side's samples from every round are
pooled into one record per variant. B's variants are paired with A's by position and take A's ids,
so the gate compares them directly."""

from __future__ import annotations

import argparse
from typing import List, Tuple

from trtbench.errors import UserError


def _side_values(common: dict, flags: List[str]) -> dict:
    from trtbench.config.options import ALL_OPTIONS, add_argparse_options

    parser = argparse.ArgumentParser(prog="ab side", add_help=False)
    add_argparse_options(parser, ALL_OPTIONS)

    def error(message):
        raise UserError(f"bad A/B flags {' '.join(flags)!r}: {message}")

    parser.error = error
    side = vars(parser.parse_args(flags))
    values = {k: v for k, v in common.items() if k in side}
    values.update({k: v for k, v in side.items() if v not in (None, False)})
    return values


def _pool(records: List[dict]) -> dict:
    from trtbench.timing.samples import SERIES
    from trtbench.timing.stats import summarize

    first = dict(records[0])
    if any(r["status"] != "ok" for r in records):
        return next(r for r in records if r["status"] != "ok")
    samples = {k: [x for r in records for x in r["samples"][k]] for k in SERIES}
    wall = sum(r["samples"]["walltime_s"] for r in records)
    q = len(samples["compute"])
    first["samples"] = dict(records[0]["samples"], **samples, queries=q, walltime_s=wall)
    first["stats"] = summarize(samples, queries=q, walltime_s=wall, batch=first["variant"]["batch"])
    first["ab_rounds"] = len(records)
    return first


def interleaved_ab(common: dict, a_flags: List[str], b_flags: List[str], rounds: int, results_dir: str) -> Tuple[str, str]:
    from trtbench.config.configure import configure
    from trtbench.results.fingerprint import machine_fingerprint
    from trtbench.results.store import ResultsWriter
    from trtbench.runner import default_sampler_factory, plan_matrix, run_variant

    if rounds < 1:
        raise UserError("--rounds must be at least 1")
    from trtbench.backends.registry import best_available

    ma, sa, _ = configure(_side_values(common, a_flags), best_available)
    mb, sb, _ = configure(_side_values(common, b_flags), best_available)
    va, ea = plan_matrix(ma)
    vb, eb = plan_matrix(mb)
    if len(va) != len(vb) or not va:
        raise UserError(f"A has {len(va)} variant(s) and B has {len(vb)}: give both the same axes so they pair up")
    factory = default_sampler_factory()
    per_a = {v.id: [] for v in va}
    per_b = {v.id: [] for v in va}
    for k in range(rounds):
        order = ("a", "b") if k % 2 == 0 else ("b", "a")
        for side in order:
            for x, y in zip(va, vb):
                if side == "a":
                    per_a[x.id].append(run_variant(x, sa, factory if sa.nvml else None))
                else:
                    rec = run_variant(y, sb, factory if sb.nvml else None)
                    rec["ab_original_id"] = y.id
                    rec["variant"] = dict(rec["variant"], id=x.id)
                    per_b[x.id].append(rec)
    paths = []
    for name, m, s, per, ex in (("A", ma, sa, per_a, ea), ("B", mb, sb, per_b, eb)):
        w = ResultsWriter(results_dir, machine=machine_fingerprint(_gpu(va)), settings=s.to_dict(),
                          matrix=dict(m.to_dict(), ab_side=name, ab_rounds=rounds),
                          excluded=[e.to_dict() for e in ex], command=f"trtbench ab ({name})")
        for vid in per:
            w.add(_pool(per[vid]))
        w.finish()
        paths.append(str(w.path))
    return paths[0], paths[1]


def _gpu(variants):
    from trtbench.backends.registry import backend_info, uses_gpu

    if any(uses_gpu(v.backend) for v in variants):
        from trtbench.bench_session import gpu_block

        return gpu_block(0)
    return None
