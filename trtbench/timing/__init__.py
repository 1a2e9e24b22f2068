"""Clocks, stage timers, the measurement loop and statistics.

The clock is a seam: ``Clock`` (host time) and ``StageTimer`` (per-query stage times) are Protocols with
real implementations here (``PerfCounterClock``, ``HostStageTimer``) and in ``trtbench.gpu.event_timer``
(``CudaEventStageTimer``). Statistics never know which timer produced the samples. Under load
(several queries in flight, open-loop arrivals) the schedulers in ``load`` drive lanes: threads here
(``load_host``), CUDA streams in ``trtbench.gpu.load_timer``.
"""
