"""What GPU backends share: the CUDA-event stage timer, pinned/device buffers and their copy stages."""

from __future__ import annotations

from typing import Optional

from trtbench.backends.base import Backend
from trtbench.gpu.event_timer import CudaEventStageTimer
from trtbench.timing.host_timer import HostStageTimer


#: cold-cache runs rotate the host inputs among this many pinned copies
COLD_INPUT_COPIES = 4


class GpuBackend(Backend):
    """A backend whose compute runs on a CUDA stream handed to it by the timer. ``self.buffers`` (an
    ``IOBuffers``) holds the pinned host and device buffers; H2D and D2H are its copies."""

    buffers = None
    on_gpu = True

    def gpu_device(self) -> Optional[int]:
        return self.settings.device if self.on_gpu else None

    def stage_timer(self):
        if not self.on_gpu:
            return HostStageTimer()
        return CudaEventStageTimer(self.settings.mode, self.settings.cuda_graph, self.settings.spin_wait,
                                   graph_factory=self.graph_factory())

    def bind(self, feeds) -> None:
        super().bind(feeds)
        if self.settings.cold and self.buffers is not None:
            self.buffers.rotate_inputs(COLD_INPUT_COPIES)

    def next_inputs(self) -> None:
        """Cold caches: the next query copies its inputs from another pinned host copy."""
        if self.buffers is not None:
            self.buffers.next_inputs()

    def graph_factory(self):
        """How to capture the compute stage in a CUDA graph; None: plain stream capture."""
        return None

    def _h2d(self, stream) -> None:
        self.buffers.h2d(stream)

    def _d2h(self, stream) -> None:
        self.buffers.d2h(stream)

    def _free_buffers(self) -> None:
        if self.buffers is not None:
            self.buffers.free()
            self.buffers = None
