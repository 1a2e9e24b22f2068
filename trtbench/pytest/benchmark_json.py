"""pytest-benchmark's JSON, written by the xdist controller (pytest-benchmark disables itself under xdist).

It is made by pytest-benchmark's own hooks and classes (machine info, commit info, ``Metadata.as_dict``
with the data, ``pytest_benchmark_generate_json``), from the merged results file, so it has the same
structure as a plain run's JSON and ``pytest-benchmark compare`` pairs the two.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Dict

from trtbench.pytest.benchmark import REPLAY_TIMER, extra_info, standard_series, unmeasured
from trtbench.results.store import RunDocument

#: test nodeids the controller saw in the workers' reports, by variant id (filled by the plugin)
NODEIDS: Dict[str, str] = {}


def record_nodeid(nodeid: str) -> None:
    if "[" in nodeid and nodeid.endswith("]"):
        NODEIDS[nodeid.rsplit("[", 1)[1][:-1]] = nodeid


def benchmark_json(config, session, doc: RunDocument) -> dict:
    from pytest_benchmark.stats import Metadata

    hook = config.hook
    machine_info = hook.pytest_benchmark_generate_machine_info(config=config)
    hook.pytest_benchmark_update_machine_info(config=config, machine_info=machine_info)
    commit_info = hook.pytest_benchmark_generate_commit_info(config=config)
    hook.pytest_benchmark_update_commit_info(config=config, commit_info=commit_info)
    # the options a plain run's fixture records (pytest-benchmark's, from the same command line)
    options = {"disable_gc": config.getoption("benchmark_disable_gc"), "timer": REPLAY_TIMER,
               "min_rounds": config.getoption("benchmark_min_rounds"),
               "max_time": float(config.getoption("benchmark_max_time")),
               "min_time": float(config.getoption("benchmark_min_time")),
               "warmup": config.getoption("benchmark_warmup") and config.getoption("benchmark_warmup_iterations")}
    benches = []
    for r in doc.records:
        if not r.ok:
            continue
        nodeid = NODEIDS.get(r.id, f"test_variant[{r.id}]")
        name = nodeid.rsplit("::", 1)[-1]
        samples = standard_series(r)
        fixture = SimpleNamespace(name=name, fullname=nodeid, group=None, param=r.id,
                                  params={"trtbench_variant": r.id}, extra_info=extra_info(r), cprofile_stats=None,
                                  has_error=False)
        meta = Metadata(fixture, iterations=1, options=options)
        for x in samples:
            meta.stats.update(x)
        benches.append(meta)
    out = hook.pytest_benchmark_generate_json(config=config, benchmarks=benches, include_data=True,
                                              machine_info=machine_info, commit_info=commit_info)
    hook.pytest_benchmark_update_json(config=config, benchmarks=benches, output_json=out)
    out["trtbench"] = {"run_id": doc.run_id, "results": doc.source, "workers": doc.protocol.get("workers"),
                       **unmeasured(doc.records, doc.excluded)}
    return out
