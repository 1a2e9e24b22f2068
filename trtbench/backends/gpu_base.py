"""What GPU backends share: the CUDA-event stage timer, pinned/device buffers and their copy stages."""

from __future__ import annotations

from typing import Optional

from trtbench.backends.base import Backend
from trtbench.timing.host_timer import HostStageTimer


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
        from trtbench.gpu.event_timer import CudaEventStageTimer

        return CudaEventStageTimer(self.settings.mode, self.settings.cuda_graph, self.settings.spin_wait,
                                   graph_factory=self.graph_factory())

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
