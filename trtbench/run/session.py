"""One run session: the single path every front end (``trtbench run``, ``run --engine``, ``ab``, the pytest
plugin) takes from planned variants to written records.

The session owns the results writer of each arm, the machine/GPU fingerprint (taken once, for the
header), the NVML sampler (one process for the whole session; each trial's clocks and throttling come
from its time window) and the protocol (build pass, then interleaved rounds, see ``protocol``). Every
record and every trial is appended to the results file the moment it exists; Ctrl-C writes the end as
``interrupted``, SIGTERM as ``aborted``.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, replace
from typing import Callable, Dict, List, Optional, Sequence

from trtbench.backends.registry import uses_gpu
from trtbench.config.settings import RunSettings
from trtbench.errors import TrtbenchError
from trtbench.gpu.fingerprint import gpu_block
from trtbench.gpu.nvml import sampler_for
from trtbench.matrix.spec import Variant
from trtbench.results.fingerprint import machine_fingerprint
from trtbench.results.record import Telemetry, Trial, VariantRecord
from trtbench.results.store import ResultsWriter, finalize
from trtbench.run.executor import InlineExecutor, ProcessExecutor, executor_for
from trtbench.run.measure import BackendFactory
from trtbench.run.protocol import Arm, describe_tasks, draw_seed, round_tasks


class Terminated(TrtbenchError):
    """SIGTERM arrived: the run ends, and its results say ``aborted``."""


@dataclass
class ArmResult:
    arm: Arm
    writer: ResultsWriter
    records: Dict[str, VariantRecord]  # by id, in the matrix's order

    @property
    def path(self) -> str:
        return str(self.writer.path)

    @property
    def run_id(self) -> str:
        return self.writer.run_id

    def finished(self) -> List[VariantRecord]:
        return [finalize(r, self.arm.settings.to_dict()) for r in self.records.values()]


@dataclass
class SessionOutcome:
    arms: List[ArmResult]
    status: str  # complete | interrupted | aborted
    seed: int

    @property
    def records(self) -> List[VariantRecord]:
        return [r for a in self.arms for r in a.finished()]


Progress = Callable[[str, dict], None]


class RunSession:
    def __init__(self, arms: Sequence[Arm], results_dir: str, *, command: Optional[str], matrices: Sequence[dict],
                 excluded: Sequence[Sequence[dict]], run_ids: Optional[Sequence[Optional[str]]] = None,
                 progress: Optional[Progress] = None, make_backend: Optional[BackendFactory] = None,
                 protocol_extra: Optional[dict] = None) -> None:
        self.arms = list(arms)
        self.progress = progress or (lambda kind, info: None)
        settings = self.arms[0].settings
        self.seed = settings.order_seed if settings.order_seed is not None else draw_seed()
        backends = sorted({v.backend for a in self.arms for v in a.variants})
        self.gpu = any(uses_gpu(b) for b in backends)
        self.executor = executor_for(settings, backends, make_backend)
        for arm in self.arms:  # the records say where their trials really ran
            if arm.settings.isolation != self.executor.name:
                arm.settings = replace(arm.settings, isolation=self.executor.name)
        gpu = gpu_block(settings.device) if self.gpu else None
        machine = machine_fingerprint(gpu)
        self.results: List[ArmResult] = []
        for i, arm in enumerate(self.arms):
            header = {"command": command, "machine": machine, "settings": arm.settings.to_dict(),
                      "matrix": dict(matrices[i]), "excluded": list(excluded[i]),
                      "protocol": {"trials": arm.settings.trials, "order_seed": self.seed,
                                   "isolation": self.executor.name,
                                   "worker_start": getattr(self.executor, "method", None),
                                   "order": "build pass, then rounds; variants shuffled per round", "arm": arm.name,
                                   "arms": [a.name for a in self.arms], **(protocol_extra or {})}}
            writer = ResultsWriter(results_dir, header, run_id=(run_ids or [None] * len(self.arms))[i])
            arm.artifacts_dir = str(writer.directory)
            self.results.append(ArmResult(arm, writer, {}))
        self.sampler = None
        self._windows: Dict[str, list] = {}

    # ------------------------------------------------------------------------------------------------
    def run(self) -> SessionOutcome:
        status = "complete"
        previous = signal.getsignal(signal.SIGTERM)
        try:
            signal.signal(signal.SIGTERM, _raise_terminated)
        except ValueError:  # not the main thread (an embedding application): no handler
            previous = None
        try:
            self._start_sampler()
            self._build_pass()
            for rnd in range(self.arms[0].settings.trials):
                self.progress("round", {"round": rnd, "rounds": self.arms[0].settings.trials})
                for batch in round_tasks(self.arms, self.seed, rnd):
                    self._run_batch(batch)
        except KeyboardInterrupt:
            status = "interrupted"
        except Terminated:
            status = "aborted"
        except BaseException:
            self._close("aborted", "an error ended the run")
            raise
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
        self._close(status)
        return SessionOutcome(self.results, status, self.seed)

    def _start_sampler(self) -> None:
        s = self.arms[0].settings
        if not (self.gpu and s.nvml):
            return
        try:
            self.sampler = sampler_for(s.device, s)
            if self.sampler is not None:
                self.sampler.start()
        except Exception as exc:  # telemetry is a bonus: the run goes on without it, and says so
            self.sampler = None
            self.progress("warning", {"message": f"NVML telemetry is off: {type(exc).__name__}: {exc}"})

    def _arm_of(self, key: str) -> ArmResult:
        name = key.split(":", 1)[0]
        return next(a for a in self.results if a.arm.name == name)

    def _build_pass(self) -> None:
        tasks = [t for res in self.results for t in describe_tasks(res.arm)]
        for task, out in self.executor.run(tasks, on_start=self._follow):
            res = self._arm_of(task.key)
            if isinstance(out, VariantRecord):
                rec = out
            else:
                status, reason, err = out
                rec = VariantRecord(task.variant, task.vid, status, reason, err)
            if res.arm.name:
                rec = replace(rec, extra=dict(rec.extra, ab_side=res.arm.name, ab_original_id=task.variant.id))
            res.records[task.vid] = rec
            res.writer.variant(rec)
            if rec.status == "ok":
                res.arm.active.append(res.arm.ids.index(task.vid))
            self.progress("described", {"arm": res.arm.name, "record": rec})
        for res in self.results:
            res.arm.active.sort()

    def _follow(self, pid: int) -> None:
        if self.sampler is None:
            return
        try:
            self.sampler.follow(pid)
        except Exception as exc:  # telemetry must never cost the measurements: the run goes on without it
            dead, self.sampler = self.sampler, None
            try:
                dead.stop()
            except Exception:
                pass
            self.progress("warning", {"message": f"NVML telemetry is off from here: {type(exc).__name__}: {exc}"})

    def _run_batch(self, batch) -> None:
        for task, out in self.executor.run(batch, on_start=self._follow):
            res = self._arm_of(task.key)
            rec = res.records[task.vid]
            if isinstance(out, Trial):
                trial = self._with_telemetry(out)
                self._windows.setdefault(task.key, []).append((trial.started, trial.ended, trial.samples.queries))
                rec = rec.with_trials(list(rec.trials) + [trial])
                res.records[task.vid] = rec
                res.writer.trial(task.vid, trial)
                self.progress("trial", {"arm": res.arm.name, "record": rec, "trial": trial})
            else:
                status, reason, err = out
                self.progress("trial_failed", {"arm": res.arm.name, "record": rec, "reason": reason,
                                               "round": task.round})
                rec = replace(rec, extra=dict(rec.extra, failed_trials=list(rec.extra.get("failed_trials", [])) +
                                              [{"round": task.round, "reason": reason, "error": err}]))
                res.records[task.vid] = rec
                res.writer.update(task.vid, extra=dict(rec.extra))

    def _with_telemetry(self, trial: Trial) -> Trial:
        if self.sampler is None:
            return trial
        self.sampler.collect()
        w = self.sampler.window(trial.started, trial.ended)
        tel = Telemetry.from_dict(w)
        flags = tuple(trial.flags) + (("throttled",) if tel.throttled and "throttled" not in trial.flags else ())
        return replace(trial, telemetry=tel, flags=flags)

    def _close(self, status: str, reason: Optional[str] = None) -> None:
        stop = getattr(self.executor, "stop", None)
        if status != "complete" and stop is not None:
            stop()
        if isinstance(self.executor, InlineExecutor):
            self.executor.release()
        if self.sampler is not None:
            try:
                self.sampler.stop()
                for res in self.results:
                    for vid, rec in res.records.items():
                        windows = self._windows.get(res.arm.key(res.arm.ids.index(vid)))
                        if not windows:
                            continue
                        inferences = sum(q for _, _, q in windows) * rec.variant.batch
                        nvml = self.sampler.summary(inferences, [(a, b) for a, b, _ in windows])
                        res.records[vid] = replace(rec, nvml=nvml)
                        res.writer.update(vid, nvml=nvml)
            except Exception as exc:  # telemetry must never cost the measurements
                self.progress("warning", {"message": f"NVML summary failed: {type(exc).__name__}: {exc}"})
            self.sampler = None
        for res in self.results:
            try:
                res.writer.finish(status, reason)
            except Exception:
                if status == "complete":
                    raise


def _raise_terminated(signum, frame):
    raise Terminated("terminated by SIGTERM")


def plain_arm(variants: Sequence[Variant], settings: RunSettings) -> Arm:
    return Arm("", list(variants), [v.id for v in variants], settings)


__all__ = ["RunSession", "SessionOutcome", "ArmResult", "Arm", "plain_arm", "Terminated", "ProcessExecutor"]
