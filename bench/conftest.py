"""The benchmark suite's configuration. The trtbench pytest plugin (installed with the package) reads
bench/matrix.toml, beside the test module, unless --trtbench-matrix names another."""
