"""A slot: what one query in flight owns.

A variant run with concurrency N binds N slots. Each has its own buffers (``IOBuffers`` on a GPU,
``HostBuffers`` on the host: one interface, so no stage asks where it runs) and its own compute state: a
TensorRT execution context of the shared engine, an onnxruntime IOBinding (and, on CUDA, its own session,
since a session's compute stream is fixed), a torch module's input tensors over the slot's buffers. Slot 0
is the backend's own binding, the one the single-query timers use (through the backend's ``h2d``/``compute``/
``d2h``/``next_inputs``, as before); the load timers drive every slot's stages directly.

State is explicit: every attribute a slot holds is set in its constructor and set to None on release.
"""

from __future__ import annotations

from typing import Dict

import numpy as np


class Slot:
    """One query in flight's buffers and compute state; subclasses implement ``compute`` and ``_drop``."""

    def __init__(self, index: int, buffers) -> None:
        self.index = index
        self.buffers = buffers

    def h2d(self, stream) -> None:
        self.buffers.h2d(stream)

    def compute(self, stream) -> None:
        raise NotImplementedError

    def d2h(self, stream) -> None:
        self.buffers.d2h(stream)

    def next_inputs(self) -> None:
        """Cold caches: the next query copies its inputs from another host copy."""
        self.buffers.next_inputs()

    def host_outputs(self) -> Dict[str, np.ndarray]:
        return self.buffers.host_outputs()

    def release(self) -> None:
        try:
            self._drop()
        finally:
            if self.buffers is not None:
                self.buffers.free()
                self.buffers = None

    def _drop(self) -> None:
        """Let go of the compute state (contexts, bindings, tensors); buffers are freed after."""

