"""Where trials run: each in a fresh worker process (the default), one worker per round, or inline here.

A ``Task`` describes a variant (the build pass: build or fetch, bind, check accuracy) or measures one of
its trials. ``ProcessExecutor`` runs the build pass in one worker, and each trial in a new worker process
(``isolation = "process"``) or each round's trials one after another in one (``"round"``): what differs
between processes (memory placement, kernel selection, clock and host state) is sampled on every trial, as
pyperf samples it with many worker processes. A trial of its own process also loads its engine first thing
there: on H200s with TensorRT 8.6, an engine loaded after another had been loaded and released in the same
process often ran 2-8% slower on plans under 0.2 ms, and every trial a fresh worker's first load was in the
fast mode (results/h200-2026-11-26c/, results/h200-2026-11-26d/). Workers are forked from a server that has
the heavy libraries imported already, so a worker starts in a fraction of a second.
``InlineExecutor`` runs everything here and keeps each variant's backend loaded between rounds while
memory allows; when loading fails for memory it releases the others, loads again, and says so.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import threading
from dataclasses import dataclass, replace
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

from trtbench.backends.base import Backend
from trtbench.config.settings import RunSettings
from trtbench.errors import UserError
from trtbench.matrix.spec import Variant
from trtbench.results.record import Trial, VariantRecord
from trtbench.run.measure import BackendFactory, describe, measure, model_backend, open_backend, outcome_of

#: what a task ended with: a record (describe), a trial, or (status, reason, error) when it failed
Outcome = Union[VariantRecord, Trial, Tuple[str, str, Optional[dict]]]


@dataclass(frozen=True)
class Task:
    kind: str  # "describe" | "trial"
    key: str  # unique in the session: "<arm>:<record id>"
    variant: Variant
    settings: RunSettings
    vid: str  # the record id
    artifacts_dir: Optional[str] = None
    index: int = 0  # trial number of the variant
    round: int = 0
    position: int = 0


def _is_out_of_memory(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc}".lower()
    return "out of memory" in text or "memoryallocation" in text or "out of device memory" in text


# ---- inline ------------------------------------------------------------------------------------------
class InlineExecutor:
    """Every task in this process; backends stay loaded between rounds while memory allows."""

    name = "inline"

    def __init__(self, make_backend: BackendFactory = model_backend) -> None:
        self.make_backend = make_backend
        self.loaded: Dict[str, Backend] = {}

    def _backend(self, task: Task) -> Tuple[Backend, bool, bool]:
        """(backend, loaded for this trial, the others were released to make room)."""
        b = self.loaded.get(task.key)
        if b is not None:
            return b, False, False
        evicted = False
        try:
            b = open_backend(task.variant, task.settings, self.make_backend)
        except Exception as exc:
            if not (_is_out_of_memory(exc) and self.loaded):
                raise
            self.release()  # memory is short: keep only the variant being measured
            evicted = True
            b = open_backend(task.variant, task.settings, self.make_backend)
        self.loaded[task.key] = b
        return b, True, evicted

    def run(self, tasks: Sequence[Task], on_start=None) -> Iterator[Tuple[Task, Outcome]]:
        for task in tasks:
            try:
                if task.kind == "describe":
                    out: Outcome = describe(task.variant, task.settings, task.vid, task.artifacts_dir,
                                            self.make_backend)
                else:
                    backend, reloaded, evicted = self._backend(task)
                    out = measure(backend, task.settings, index=task.index, round=task.round,
                                  position=task.position, process="inline", reloaded=reloaded)
                    if evicted:  # said in the record: the other variants were unloaded for memory
                        out = replace(out, flags=tuple(out.flags) + ("reloaded_for_memory",))
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:  # noqa: B902 - the trial failed; the protocol goes on
                self.drop(task.key)
                out = outcome_of(exc)
            yield task, out

    def drop(self, key: str) -> None:
        b = self.loaded.pop(key, None)
        if b is not None:
            b.release()

    def release(self) -> None:
        for key in list(self.loaded):
            self.drop(key)


# ---- worker processes --------------------------------------------------------------------------------
def _worker_main(conn, tasks: List[Task]) -> None:
    """A worker process: run the tasks in order, send each outcome as soon as it exists."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it ends us
    try:
        _run_tasks(conn, tasks)
    except (BrokenPipeError, ConnectionResetError, EOFError):
        pass  # the parent stopped listening (Ctrl-C, SIGTERM): stop quietly, no traceback on the user's terminal


def _run_tasks(conn, tasks: List[Task]) -> None:
    process = f"worker pid {os.getpid()}"
    for task in tasks:
        backend = None
        try:
            if task.kind == "describe":
                out = describe(task.variant, task.settings, task.vid, task.artifacts_dir)
                conn.send((task.key, "record", out.to_dict()))
            else:
                backend = open_backend(task.variant, task.settings)
                trial = measure(backend, task.settings, index=task.index, round=task.round, position=task.position,
                                process=process, reloaded=True)
                conn.send((task.key, "trial", trial.to_dict()))
        except BaseException as exc:  # noqa: B902 - report it, go on with the next task
            conn.send((task.key, "error", outcome_of(exc)))
        finally:
            if backend is not None:
                try:
                    backend.release()
                except Exception:
                    pass
    conn.send(None)
    conn.close()


def _preload(settings_backends: Sequence[str]) -> List[str]:
    mods = ["numpy", "onnx", "onnxruntime", "trtbench.run.executor"]
    if "tensorrt" in settings_backends:
        mods.append("tensorrt")
    if "torch" in settings_backends:
        mods += ["torch", "onnx2torch"]
    return mods


HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def start_uninterrupted(proc) -> None:
    """``proc.start()`` with Ctrl-C and SIGTERM held back until the worker has its task list: an interrupt in
    the middle left the new process reading a closed pipe, and its traceback on the terminal. A held signal is
    delivered as soon as the start returns, to the handler that was in place (the worker itself ignores
    SIGINT). Handlers belong to the main thread: from another one the start is plain."""
    if threading.current_thread() is not threading.main_thread():
        proc.start()
        return
    caught = []
    previous = {}
    try:
        for sig in HELD_SIGNALS:
            previous[sig] = signal.signal(sig, lambda signum, frame: caught.append((signum, frame)))
        proc.start()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    for signum, frame in caught[:1]:  # the first one decides (SIGTERM's handler raises, Ctrl-C's too)
        handler = previous[signum]
        if callable(handler):
            handler(signum, frame)
        elif handler is signal.SIG_DFL and signum == signal.SIGINT:
            raise KeyboardInterrupt
        elif handler is signal.SIG_DFL:
            signal.raise_signal(signum)


class ProcessExecutor:
    """Each trial in a fresh worker process (``per_trial``), or each ``run`` call (one round's tasks) in one;
    the build pass's tasks share one worker either way."""

    def __init__(self, backends: Sequence[str] = (), per_trial: bool = True) -> None:
        self.name = "process" if per_trial else "round"
        self.per_trial = per_trial
        method = "forkserver" if "forkserver" in mp.get_all_start_methods() and sys.platform != "darwin" else "spawn"
        method = os.environ.get("TRTBENCH_WORKER_START", method)  # "spawn": a slower start, nothing preloaded
        if method not in mp.get_all_start_methods():
            raise UserError(f"TRTBENCH_WORKER_START={method!r} is not a start method here: use one of "
                            f"{', '.join(mp.get_all_start_methods())}")
        self.ctx = mp.get_context(method)
        if method == "forkserver":
            self.ctx.set_forkserver_preload(_preload(backends))
        self.method = method
        self.proc = None
        self.on_pid = None  # callback(pid) when a worker starts (telemetry follows it)

    def run(self, tasks: Sequence[Task], on_start=None) -> Iterator[Tuple[Task, Outcome]]:
        if self.per_trial and len(tasks) > 1 and all(t.kind == "trial" for t in tasks):
            for task in tasks:
                yield from self._run_worker([task], on_start)
        else:
            yield from self._run_worker(tasks, on_start)

    def _run_worker(self, tasks: Sequence[Task], on_start=None) -> Iterator[Tuple[Task, Outcome]]:
        if not tasks:
            return
        by_key = {t.key: t for t in tasks}
        pending = list(tasks)
        recv, send = self.ctx.Pipe(duplex=False)
        proc = self.proc = self.ctx.Process(target=_worker_main, args=(send, list(tasks)), name="trtbench-worker",
                                            daemon=True)
        start_uninterrupted(proc)
        finished = False
        try:
            send.close()
            if on_start is not None:
                on_start(proc.pid)
            while True:
                try:
                    msg = recv.recv()
                except EOFError:
                    msg = None
                    if pending:  # the worker died without finishing (a crash in a native library)
                        proc.join(5)
                        why = (f"the worker process died (exit code {proc.exitcode}) while measuring this variant; "
                               f"the other variants and rounds go on")
                        for t in pending:
                            yield t, ("failed", why, None)
                        pending = []
                if msg is None:
                    break
                key, kind, payload = msg
                task = by_key[key]
                pending = [t for t in pending if t.key != key]
                if kind == "record":
                    yield task, VariantRecord.from_dict(payload)
                elif kind == "trial":
                    yield task, Trial.from_dict(payload)
                else:
                    yield task, tuple(payload)
            finished = True
        finally:
            recv.close()
            if finished:
                proc.join(10)
            if proc.is_alive():  # interrupted, or a worker that does not end: it goes now
                proc.terminate()
                proc.join(5)
            self.proc = None

    def stop(self) -> None:
        """Ctrl-C / SIGTERM: end the worker now."""
        if self.proc is not None and self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(5)

    def release(self) -> None:
        pass


def executor_for(settings: RunSettings, backends: Sequence[str], make_backend: Optional[BackendFactory] = None):
    if settings.isolation == "inline" or make_backend is not None:
        return InlineExecutor(make_backend or model_backend)
    return ProcessExecutor(backends, per_trial=settings.isolation != "round")


__all__ = ["Task", "InlineExecutor", "ProcessExecutor", "executor_for", "Outcome"]
