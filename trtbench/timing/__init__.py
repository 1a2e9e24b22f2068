"""Clocks, stage timers, the measurement loop and statistics.

The clock is a seam: ``Clock`` (host time) and ``StageTimer`` (per-query stage times) are Protocols with
real implementations here (``PerfCounterClock``, ``HostStageTimer``) and in ``trtbench.gpu.event_timer``
(``CudaEventStageTimer``). Statistics never know which timer produced the samples.
"""
