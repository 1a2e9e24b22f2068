"""trtbench as a pytest-benchmark suite: the plugin (``plugin``, the pytest11 entry point) and the bridge
to pytest-benchmark's fixture and JSON (``benchmark``)."""
