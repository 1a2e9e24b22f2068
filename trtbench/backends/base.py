"""The lifecycle every backend shares:

    prepare()  -> build or convert what will run (engine, session, module); may hit a cache
    load()     -> load it onto the device
    bind()     -> allocate input/output buffers once, sized for the profile maximum; set the run shapes
    h2d/compute/d2h (via ``stage_calls``) -> the timed stages, called by a StageTimer
    outputs()  -> the outputs of the last query, reshaped to their actual shapes
    release()  -> free everything (always called, also after a failure)

The state checks live here; a backend fills in the ``_prepare``/``_load``/``_bind``/``_h2d``/``_compute``/
``_d2h``/``_outputs``/``_release`` parts.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Dict, Optional

import numpy as np

from trtbench.backends.registry import Availability
from trtbench.errors import BackendUnavailable, TrtbenchError
from trtbench.matrix.spec import Variant
from trtbench.backends.prepare import PreparedModel
from trtbench.config.settings import RunSettings
from trtbench.timing.host_timer import HostStageTimer

_ORDER = ("new", "prepared", "loaded", "bound")


class LifecycleError(TrtbenchError):
    """A backend method was called out of order (an internal bug)."""


class Backend(ABC):
    name: ClassVar[str] = ""

    def __init__(self, variant: Variant, settings: RunSettings, prepared: PreparedModel) -> None:
        self.variant = variant
        self.settings = settings
        self.prepared = prepared
        self.state = "new"
        #: facts for the results record (build time, engine size, versions, precision method, ...)
        self.facts: Dict[str, Any] = {}

    # ---- availability -------------------------------------------------------------------------
    @classmethod
    @abstractmethod
    def availability(cls) -> Availability:
        """Whether this backend can run here; never raises, reports the reason instead."""

    @classmethod
    def require(cls) -> Availability:
        a = cls.availability()
        if not a.available:
            raise BackendUnavailable(f"backend {a.name} is unavailable: {a.reason}")
        return a

    # ---- lifecycle ----------------------------------------------------------------------------
    def _advance(self, expected: str, new: str) -> None:
        if self.state != expected:
            raise LifecycleError(f"{type(self).__name__}: cannot go to {new!r} from {self.state!r} "
                                 f"(expected {expected!r})")
        self.state = new

    def prepare(self) -> None:
        self._advance("new", "prepared")
        self._prepare()

    def load(self) -> None:
        self._advance("prepared", "loaded")
        self._load()

    def bind(self, feeds: Dict[str, np.ndarray]) -> None:
        self._advance("loaded", "bound")
        for name, shape in self.prepared.run_shapes.items():
            if name not in feeds or tuple(feeds[name].shape) != tuple(shape):
                raise LifecycleError(f"feed for input {name} must have shape {shape}")
        self._bind(feeds)

    def stage_calls(self):
        if self.state != "bound":
            raise LifecycleError(f"{type(self).__name__}: stages need a bound backend, state is {self.state!r}")
        return self

    def outputs(self) -> Dict[str, np.ndarray]:
        if self.state != "bound":
            raise LifecycleError("outputs need a bound backend")
        return self._outputs()

    def release(self) -> None:
        if self.state != "released":
            try:
                self._release()
            finally:
                self.state = "released"

    # the three stages (called through stage_calls by a timer: hot path, no checks)
    def h2d(self, stream) -> None:
        self._h2d(stream)

    def compute(self, stream) -> None:
        self._compute(stream)

    def d2h(self, stream) -> None:
        self._d2h(stream)

    def stage_timer(self):
        """The timer that fits this backend's stages (host clock unless overridden)."""
        return HostStageTimer()

    def gpu_device(self) -> Optional[int]:
        """The CUDA device this variant runs on, or None for host backends (no NVML sampling)."""
        return None

    # ---- parts a backend implements -------------------------------------------------------------
    @abstractmethod
    def _prepare(self) -> None: ...

    @abstractmethod
    def _load(self) -> None: ...

    @abstractmethod
    def _bind(self, feeds: Dict[str, np.ndarray]) -> None: ...

    @abstractmethod
    def _h2d(self, stream) -> None: ...

    @abstractmethod
    def _compute(self, stream) -> None: ...

    @abstractmethod
    def _d2h(self, stream) -> None: ...

    @abstractmethod
    def _outputs(self) -> Dict[str, np.ndarray]: ...

    @abstractmethod
    def _release(self) -> None: ...

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.release()
