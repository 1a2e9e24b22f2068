"""TEMPORARY shim while helper worktrees use the old entry point; removed before the submission."""
from trtbench.pytest.plugin import *  # noqa: F401,F403
from trtbench.pytest.plugin import (pytest_addoption, pytest_benchmark_update_json, pytest_benchmark_update_machine_info,  # noqa: F401
                                    pytest_collection_finish, pytest_configure, pytest_configure_node,
                                    pytest_generate_tests, pytest_runtest_logreport, pytest_sessionfinish, trtbench_suite)
