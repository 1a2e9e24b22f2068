#!/usr/bin/env bash
# The GPU evidence, as made through the device tool (results committed under results/):
#   TRTBENCH_GIT_COMMIT=<hash> bash bench/gpu_evidence.sh STAGE
# Stages (one device call each, back to back on one warm machine; state kept in /tmp/ev between calls):
#   setup  TensorRT 8.6 (CPython 3.9 payload, ../shared/trt86): a smoke run, the engines of the matrices built
#          and cached, plans exported (before 2026-11-26's launch gate, setup also ran the clock check)
#   clock  (after setup) the independent-clock check on the exported plans (bench/clock_check.py)
#   small  (fresh machine) the 12 small plans of the repro matrix built, the bare clock (gated) in 2 x ${SPREAD:-10}
#          separate processes over them (its per-process spread; plans in a fixed order, then shuffled per
#          process), the clock check on them with ${REPS:-4} repetitions (a control side: SMALL_CONTROL="flags";
#          more clock_check flags: SMALL_CLOCK_FLAGS, e.g. --trtbench-transfers)
#   repro  ${RUNS:-10} separate reproducibility runs of a 12-variant cached TensorRT matrix (REPRO_MATRIX=large
#          or b512: variants of 0.2 ms and more; REPRO_OUT: another folder; TABLE_ALL=1: the
#          table over every run in the folder, a series split over calls on one machine)
#   ab     ab calibration: A/A jobs and real slowdowns of about 2% and 5% (needs setup's clock check)
#   loadcheck  the load check alone on a fresh machine
#   followup  (after setup) more slowdown jobs, trtbench's load throughput against the bare multi-stream loop,
#          the PyTorch GPU tests (run at 7bb154f with a --spin-wait control side; load runs spin since 92d76f7)
#   trttests  the GPU and TensorRT tests under Python 3.9 + TensorRT 8.6 only
#   tests  the GPU and TensorRT tests (Python 3.9 + TensorRT 8.6 and Python 3.12 + PyTorch, side by side:
#          tests, not measurements), then shapes (bench/gpu_shapes.sh)
#   torch  load (bench/gpu_load.sh: TensorRT and PyTorch), NVML on/off under the trial protocol (its runs
#          are also PyTorch's run-to-run spread), the harness's speed targets (bench/gpu_targets.py)
# Every step's output is packed into $OUT/<stage>-<step>.tar.gz as soon as the step ends, so a call that
# runs out of time still returns what it finished. Nothing here changes a device setting: clocks and
# throttling are read (nvidia-smi -q, NVML), never set.
set -u
stage=${1:?stage: setup, clock, small, repro, ab, followup, loadcheck, trttests, tests or torch}
OUT=${OUT:-/tmp/out}; EV=/tmp/ev; mkdir -p "$OUT" "$EV"
export PYTHONUNBUFFERED=1
root=$(cd "$(dirname "$0")/.." && pwd); cd "$root"
export PYTHONPATH=$root
C=$EV/cache
M=$EV/models
W=$EV/work/$stage; mkdir -p "$W"
step() {  # step NAME CMD...: run it, log it, time it, pack its folder; a failed step is recorded, the stage goes on
  local name=$1; shift
  local t0; t0=$(date +%s)
  mkdir -p "$W/$name"
  echo "\$ $*" > "$W/$name/step.log"
  "$@" >> "$W/$name/step.log" 2>&1
  local rc=$?
  echo "$name rc=$rc $(( $(date +%s) - t0 ))s" | tee -a "$OUT/$stage-steps.txt"
  tail -n "${TAIL:-6}" "$W/$name/step.log"
  tar czf "$OUT/$stage-$name.tar.gz" -C "$W" "$name"
}
trt() { bash .trt/tools/unpack-on-gpu.sh > "$EV/unpack.log" 2>&1; export PATH=/tmp/trt86:$PATH; }
torchpath() {
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl2/*.whl > "$EV/pip.log" 2>&1
  echo "/tmp/site:$root"
}
nvidia-smi -q -d CLOCK,PERFORMANCE,TEMPERATURE,POWER > "$W/nvidia-smi-start.txt" 2>&1

case "$stage" in
setup)
  trt
  step smoke python3.9 -m trtbench run -b tensorrt -m mlp --batch 1 --build-mode implicit --trials 2 --duration 0.1 \
    --cache-dir "$C" --results "$EV/smoke"
  if ! grep -q "smoke rc=0" "$OUT/$stage-steps.txt"; then echo "smoke failed: stopping"; exit 1; fi
  step build bash -c "python3.9 bench/calib_models.py '$M' --extra 64,96,128,192,256 &&
    cp '$W/nvidia-smi-start.txt' '$W/build/' &&
    python3.9 -m trtbench run -b tensorrt -m resnet,mlp,transformer --batch 1,64 --precision fp32,fp16 \
      --build-mode implicit --trials 1 --duration 0.05 --cache-dir '$C' --results '$EV/warm' -q &&
    python3.9 -m trtbench run -b tensorrt -m '$M/calib_base.onnx,$M/calib_k64.onnx,$M/calib_k96.onnx,$M/calib_k128.onnx,$M/calib_k192.onnx,$M/calib_k256.onnx,$M/calib8_base.onnx,$M/calib8_k32.onnx,$M/calib8_k64.onnx' \
      --batch 2048 --build-mode implicit --trials 1 --duration 0.05 --no-accuracy --cache-dir '$C' --results '$EV/warm' -q &&
    python3.9 -m trtbench run -b tensorrt -m '$M/calib_base.onnx,resnet,transformer' --precision fp32,fp16 \
      --batch 512 --build-mode implicit --trials 1 --duration 0.05 --no-accuracy --cache-dir '$C' --results '$EV/warm' -q &&
    python3.9 bench/export_plans.py '$C' '$EV/plans' --match calib_ calib8_ mlp-tensorrt-fp32-implicit-b1 \
      mlp-tensorrt-fp16-implicit-b64 resnet-tensorrt-fp32-implicit-b1 resnet-tensorrt-fp16-implicit-b64 \
      transformer-tensorrt-fp32-implicit-b1 transformer-tensorrt-fp16-implicit-b64 resnet-tensorrt-fp32-implicit-b512 \
      transformer-tensorrt-fp32-implicit-b512"
  ;;
small)  # on a fresh machine: the 12 small plans, the bare clock's spread over separate processes, the clock check on them
  trt
  step build bash -c "python3.9 -m trtbench run -b tensorrt -m resnet,mlp,transformer --batch 1,64 --precision fp32,fp16 \
      --build-mode implicit --trials 1 --duration 0.05 --cache-dir '$C' --results '$EV/warm' -q &&
    python3.9 bench/export_plans.py '$C' '$EV/smallplans' --match {mlp,resnet,transformer}-tensorrt-{fp32,fp16}-implicit-b{1,64}"
  # the bare clock in separate processes: plans in one fixed order, then each process in its own shuffled order
  step spread bash -c "for i in \$(seq 1 ${SPREAD:-10}); do for order in fixed shuffled; do
      if [ \$order = fixed ]; then list=\$(ls '$EV'/smallplans/*.plan); else list=\$(ls '$EV'/smallplans/*.plan | shuf); fi
      plans=''; for p in \$list; do plans=\"\$plans --plan \$p\"; done
      python3.9 bench/bare_trt_clock.py --method gated --duration 0.3 \$plans \
        --json '$W/spread/bare-gated-'\$order-\$i.json > /dev/null || exit 1; done; done; ls '$W/spread' | wc -l"
  step clock python3.9 bench/clock_check.py --plans "$EV/smallplans" --out "$W/clock" --reps "${REPS:-4}" --duration 0.3 \
    --python python3.9 --control="${SMALL_CONTROL-}" ${SMALL_CLOCK_FLAGS:-}
  ;;
clock)
  trt
  step clock python3.9 bench/clock_check.py --plans "$EV/plans" --out "$W/clock" --reps "${REPS:-2}" --duration 0.3 \
    --python python3.9 --control="${CLOCK_CONTROL---no-launch-gate}"
  cp "$W/clock/clock-check.json" "$EV/clock-check.json" 2>/dev/null
  ;;
repro)
  trt
  # ${REPRO_MATRIX}: the 12-variant matrix of small plans by default; "large": variants of 0.2 ms and more
  if [ "${REPRO_MATRIX:-}" = large ]; then
    matrix="-m resnet,transformer,$M/calib_base.onnx --batch 512 --precision fp32,fp16"
  elif [ "${REPRO_MATRIX:-}" = b512 ]; then  # large without the calibration model (no setup stage needed)
    matrix="-m resnet,transformer --batch 512 --precision fp32,fp16"
  else
    matrix="-m resnet,mlp,transformer --batch 1,64 --precision fp32,fp16"
  fi
  # shellcheck disable=SC2086
  step "${REPRO_OUT:-repro}" python3.9 bench/repro_runs.py --runs "${RUNS:-10}" --out "$W/${REPRO_OUT:-repro}" --python python3.9 ${TABLE_ALL:+--table-all} -- -b tensorrt \
    $matrix --build-mode implicit --warmup 100 --duration 0.2 --max-iterations 3000 --cache-dir "$C"
  ;;
ab)
  trt
  step ab timeout "${AB_TIMEOUT:-430}" python3.9 bench/ab_calibration.py --models "$M" --clock "$EV/clock-check.json" --out "$W/ab/out" \
    --aa-jobs "${AA_JOBS:-20}" --slow-jobs "${SLOW_JOBS:-20}" --rounds "${ROUNDS:-4}" -- -b tensorrt \
    --build-mode implicit --no-data-transfers --warmup 50 --duration "${DURATION:-0.15}" --max-iterations 2000 \
    --no-accuracy --cache-dir "$C"
  ;;
followup)  # after setup, on the same machine: more slowdown jobs, the load check with a control, PyTorch tests
  trt
  TP=$(torchpath)
  step ab timeout "${AB_TIMEOUT:-330}" python3.9 bench/ab_calibration.py --models "$M" --clock "$EV/clock-check.json" --out "$W/ab/out" \
    --aa-jobs "${AA_JOBS:-0}" --slow-jobs "${SLOW_JOBS:-10}" --rounds "${ROUNDS:-4}" -- -b tensorrt \
    --build-mode implicit --no-data-transfers --warmup 50 --duration "${DURATION:-0.15}" --max-iterations 2000 \
    --no-accuracy --cache-dir "$C"
  mkdir -p "$EV/loadplans"
  cp "$EV/plans/calib_base-tensorrt-fp32-implicit-b512.plan" "$EV/loadplans/" || echo "no calibration plan: run setup first"
  step load-compare python3.9 bench/load_compare.py --plans "$EV/loadplans" --out "$W/load-compare" --streams 4 --reps 2 \
    --duration 1.0 --python python3.9
  step py312-tests env PYTHONPATH="$TP" timeout 150 python3 -m pytest tests/test_backends_cpu.py tests/test_gpu.py -q \
    -p no:cacheprovider -rs
  ;;
loadcheck)  # trtbench's load throughput against the bare multi-stream loop, on a fresh machine (builds its plan)
  trt
  step build bash -c "python3.9 bench/calib_models.py '$M' --extra 64 --deep-extra '' &&
    python3.9 -m trtbench run -b tensorrt -m '$M/calib_base.onnx' --batch 512 --build-mode implicit --trials 1 \
    --duration 0.05 --no-accuracy --cache-dir '$C' --results '$EV/warm' -q &&
    python3.9 bench/export_plans.py '$C' '$EV/loadplans' --match calib_base-tensorrt-fp32-implicit-b512"
  step load-compare python3.9 bench/load_compare.py --plans "$EV/loadplans" --out "$W/load-compare" --streams 4 --reps 3 \
    --duration 1.0 --python python3.9
  ;;
trttests)  # the GPU and TensorRT tests under Python 3.9 + TensorRT 8.6 alone (no PyTorch wheels carried)
  trt
  step gpu-tests bash -c "timeout 330 python3.9 -m pytest tests/test_tensorrt_real.py tests/test_gpu.py tests/test_load_gpu.py \
      tests/test_encoder.py -q -p no:cacheprovider -rs"
  ;;
tests)
  trt
  TP=$(torchpath)
  step gpu-tests bash -c "(timeout 330 python3.9 -m pytest tests/test_tensorrt_real.py tests/test_gpu.py tests/test_load_gpu.py \
      tests/test_encoder.py -q -p no:cacheprovider -rs > '$W/trt86-tests.log' 2>&1; echo trt86 exit \$?) &
    (PYTHONPATH=$TP timeout 330 python3 -m pytest tests/test_gpu.py tests/test_backends_cpu.py tests/test_load_gpu.py \
      tests/test_encoder.py -q -p no:cacheprovider -rs > '$W/py312-tests.log' 2>&1; echo py312 exit \$?) &
    wait; mkdir -p '$W/gpu-tests'; cp '$W'/*-tests.log '$W/gpu-tests/'; tail -n 3 '$W'/*-tests.log"
  step shapes env CACHE_DIR="$C" TORCH_PY=python3 PYTHONPATH="$TP" bash bench/gpu_shapes.sh "$W/shapes"
  ;;
torch)
  trt
  TP=$(torchpath)
  step load env WHEELS=.whl2 timeout "${LOAD_TIMEOUT:-330}" bash bench/gpu_load.sh "$W/load"
  step nvml env PYTHONPATH="$TP" python3 bench/nvml_overhead.py --out "$W/nvml" --pairs "${PAIRS:-2}" -- -b torch \
    -m transformer --precision fp16 --batch 32 --build-mode implicit --warmup 100 --duration 0.3 --max-iterations 3000
  [ -z "${SKIP_TARGETS:-}" ] && step targets env PYTHONPATH="$TP" python3 bench/gpu_targets.py "$W/targets/gpu-targets.json"
  ;;
esac
nvidia-smi -q -d CLOCK,PERFORMANCE,TEMPERATURE,POWER > "$W/nvidia-smi-end.txt" 2>&1
cp "$W"/nvidia-smi-*.txt "$OUT/" 2>/dev/null
cat "$OUT/$stage-steps.txt"
