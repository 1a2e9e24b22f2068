"""The pytest plugin (registered as the ``trtbench`` pytest11 entry point): the run options, defined once
in ``trtbench.options``, as ``--trtbench-*`` pytest options."""

from __future__ import annotations


def pytest_addoption(parser):
    from trtbench.options import ALL_OPTIONS, add_pytest_options

    group = parser.getgroup("trtbench", "trtbench benchmark matrix")
    add_pytest_options(group, ALL_OPTIONS)
