"""The benchmark matrix as a pytest-benchmark suite: one test per variant, ids = variant ids.

    pytest bench/ --benchmark-json out.json [--trtbench-backend torch] [-k "explicit and b32"] [-n 2]
"""


def test_variant(trtbench_variant, benchmark, trtbench_suite):
    trtbench_suite.measure(trtbench_variant, benchmark)
