"""The ``trtbench`` command line: one module per command, ``main`` dispatches and maps errors to exit codes."""
