"""What the backends share: slots (buffers + compute state per query in flight), the timers that fit where
they run (CUDA events on a GPU, the host clock on a CPU), and the slot-0 stages the single-query timers call.

A backend fills in ``_new_slot(index)`` (bind time: its buffers, and a context, binding or tensors over
them) and its runtime's own release; the stages themselves live on the slot, so none branches on CPU vs GPU.
"""

from __future__ import annotations

from typing import List, Optional

from trtbench.backends.base import Backend, LifecycleError
from trtbench.backends.host_buffers import HostBuffers
from trtbench.backends.slot import Slot
from trtbench.gpu.buffers import IOBuffers
from trtbench.gpu.event_timer import CudaEventStageTimer
from trtbench.gpu.load_timer import CudaLoadTimer
from trtbench.timing.host_timer import HostStageTimer
from trtbench.timing.load import GPU_LOAD_SPIN_WAIT
from trtbench.timing.load_host import HostLoadTimer

#: cold-cache runs rotate the host inputs among this many copies
COLD_INPUT_COPIES = 4


class GpuBackend(Backend):
    """A backend whose stages run on a CUDA stream handed to them by the timer (``on_gpu``), or on the host."""

    on_gpu = True

    def __init__(self, variant, settings, prepared) -> None:
        super().__init__(variant, settings, prepared)
        self.slots: List[Slot] = []

    @property
    def buffers(self):
        """Slot 0's buffers (the single-query timers' and the outputs')."""
        return self.slots[0].buffers if self.slots else None

    def buffer_class(self):
        """Device buffers behind pinned host memory on a GPU; host buffers on a CPU (same interface)."""
        return IOBuffers if self.on_gpu else HostBuffers

    def gpu_device(self) -> Optional[int]:
        return self.settings.device if self.on_gpu else None

    def stage_timer(self):
        if not self.on_gpu:
            return HostStageTimer()
        timer = CudaEventStageTimer(self.settings.mode, self.settings.cuda_graph, self.settings.spin_wait,
                                    graph_factory=self.graph_factory(), launch_gate=self.settings.launch_gate)
        timer.captures = self.captures_graphs
        return timer

    def load_timer(self, slots: List[Slot]):
        """The timer that keeps several queries in flight on ``slots`` (see ``open_slots``)."""
        if not self.on_gpu:
            return HostLoadTimer(slots, data_transfers=self.settings.data_transfers)
        return CudaLoadTimer(slots, cuda_graph=self.settings.cuda_graph, spin_wait=GPU_LOAD_SPIN_WAIT,
                             data_transfers=self.settings.data_transfers, graph_factory=self.graph_factory())

    #: False where ``graph_factory`` always refuses (the compute call cannot be captured): the records then say
    #: compute is timed eagerly, as it is
    captures_graphs = True

    def graph_factory(self):
        """How to capture the compute stage in a CUDA graph; None: plain stream capture."""
        return None

    # ---- slots ----------------------------------------------------------------------------------------
    def bind(self, feeds) -> None:
        super().bind(feeds)
        if self.settings.cold:
            self.slots[0].buffers.rotate_inputs(COLD_INPUT_COPIES)

    def open_slots(self, n: int) -> List[Slot]:
        """``n`` slots for ``n`` queries in flight: slot 0 is the binding made by ``bind``; the others are made
        now, each with its own buffers and compute state, and kept until release."""
        if self.state != "bound":
            raise LifecycleError(f"{type(self).__name__}: slots need a bound backend, state is {self.state!r}")
        while len(self.slots) < n:
            self.slots.append(self._new_slot(len(self.slots)))
        return self.slots[:n]

    def _new_slot(self, index: int) -> Slot:
        raise NotImplementedError

    def _bind_slot0(self) -> None:
        self.slots = [self._new_slot(0)]
        self.facts.update(self.slots[0].buffers.total_bytes())

    def _release_slots(self) -> None:
        slots, self.slots = self.slots, []
        for s in reversed(slots):
            s.release()

    # ---- slot 0's stages: the Backend lifecycle's h2d/compute/d2h, which the single-query timers call ----------
    def next_inputs(self) -> None:
        self.slots[0].next_inputs()

    def _h2d(self, stream) -> None:
        self.slots[0].h2d(stream)

    def _compute(self, stream) -> None:
        self.slots[0].compute(stream)

    def _d2h(self, stream) -> None:
        self.slots[0].d2h(stream)
