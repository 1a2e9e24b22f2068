"""The versioned results envelope: its JSON Schema, the incremental atomic writer and the reader."""

SCHEMA_NAME = "trtbench.results"
SCHEMA_VERSION = 2
