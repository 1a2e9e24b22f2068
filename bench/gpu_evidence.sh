#!/usr/bin/env bash
# The GPU evidence of the measurement protocol and the gate, as made through the device tool.
#   TRTBENCH_GIT_COMMIT=<hash> bash bench/gpu_evidence.sh STAGE
# Stages (one device call each, back to back on one warm machine; state carried in /tmp/ev):
#   trt1   TensorRT 8.6 (CPython 3.9 payload, ../shared/trt86): real-TensorRT tests, engines of the matrix
#          built and cached, the independent-clock check, 10 separate reproducibility runs
#   trt2   ab calibration: A/A jobs and real 2% / 5% slowdowns (needs trt1's clock check)
#   torch  the machine's Python 3.12 + PyTorch: GPU tests, reproducibility runs of PyTorch variants,
#          NVML on/off under the trial protocol
#   extra  shapes and load evidence (sequence lengths, concurrency curves) when their code exists
# Everything lands in $OUT/<stage>/ and is packed into $OUT/<stage>.tar.gz. Nothing here changes a device
# setting: clocks and throttling are read (nvidia-smi -q, NVML), never set.
set -u
stage=${1:?stage: trt1, trt2, torch or extra}
OUT=${OUT:-/tmp/out}; P=$OUT/$stage; EV=/tmp/ev; mkdir -p "$P" "$EV"
export PYTHONUNBUFFERED=1
root=$(cd "$(dirname "$0")/.." && pwd); cd "$root"
export PYTHONPATH=$root
C=$EV/cache
M=$EV/models
step() {  # step NAME CMD...: run, log, time; a failed step is recorded and the stage goes on
  local name=$1; shift
  local t0; t0=$(date +%s)
  "$@" > "$P/$name.log" 2>&1
  local rc=$?
  echo "$name rc=$rc $(( $(date +%s) - t0 ))s" | tee -a "$P/steps.txt"
  tail -4 "$P/$name.log"
}
snapshot() { nvidia-smi -q -d CLOCK,PERFORMANCE,TEMPERATURE,POWER > "$P/nvidia-smi-$1.txt" 2>&1; }

if [ "$stage" = trt1 ] || [ "$stage" = trt2 ]; then
  bash .trt/tools/unpack-on-gpu.sh > "$P/unpack.log" 2>&1 && export PATH=/tmp/trt86:$PATH
  PY=python3.9
fi
snapshot start
case "$stage" in
trt1)
  step tests-trt86 $PY -m pytest tests/test_tensorrt_real.py tests/test_gpu.py -q -p no:cacheprovider -rs
  step models $PY bench/calib_models.py "$M" --widths 32,64,96,128,192,256
  # one trial builds and caches every engine (not one of the measured runs)
  step build-matrix $PY -m trtbench run -b tensorrt -m resnet,mlp,transformer --batch 1,64 --precision fp32,fp16 \
    --build-mode implicit --trials 1 --duration 0.05 --cache-dir "$C" --results "$EV/warm" -q
  step build-calib $PY -m trtbench run -b tensorrt -m "$M/calib_base.onnx,$M/calib_w32.onnx,$M/calib_w64.onnx,$M/calib_w96.onnx,$M/calib_w128.onnx,$M/calib_w192.onnx,$M/calib_w256.onnx" \
    --batch 512 --build-mode implicit --trials 1 --duration 0.05 --no-accuracy --cache-dir "$C" --results "$EV/warm" -q
  step build-aa $PY -m trtbench run -b tensorrt -m "$M/calib_base.onnx,resnet,transformer" --batch 512 \
    --build-mode implicit --trials 1 --duration 0.05 --no-accuracy --cache-dir "$C" --results "$EV/warm" -q
  step export $PY bench/export_plans.py "$C" "$EV/plans" --match calib_ mlp-tensorrt-fp32-implicit-b1 \
    mlp-tensorrt-fp16-implicit-b64 resnet-tensorrt-fp32-implicit-b1 resnet-tensorrt-fp16-implicit-b64 \
    transformer-tensorrt-fp32-implicit-b1 transformer-tensorrt-fp16-implicit-b64 resnet-tensorrt-fp32-implicit-b512 \
    transformer-tensorrt-fp32-implicit-b512
  step clock $PY bench/clock_check.py --plans "$EV/plans" --out "$P/clock" --reps 2 --duration 0.3 --python $PY
  cp "$P/clock/clock-check.json" "$EV/clock-check.json" 2>/dev/null
  step repro $PY bench/repro_runs.py --runs 10 --out "$P/repro" --python $PY -- -b tensorrt -m resnet,mlp,transformer \
    --batch 1,64 --precision fp32,fp16 --build-mode implicit --warmup 100 --duration 0.2 --cache-dir "$C"
  ;;
trt2)
  step ab-calibration $PY bench/ab_calibration.py --models "$M" --clock "$EV/clock-check.json" --out "$P/ab" \
    --aa-jobs "${AA_JOBS:-20}" --slow-jobs "${SLOW_JOBS:-20}" --rounds "${ROUNDS:-4}" -- -b tensorrt --batch 512 \
    --build-mode implicit --no-data-transfers --warmup 50 --duration 0.15 --no-accuracy --cache-dir "$C"
  ;;
torch)
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl > "$P/pip.log" 2>&1
  export PYTHONPATH=/tmp/site:$root
  step tests-torch python3 -m pytest tests/test_gpu.py tests/test_backends_cpu.py -q -p no:cacheprovider -rs
  step repro-torch python3 bench/repro_runs.py --runs 5 --out "$P/repro-torch" -- -b torch -m resnet,transformer \
    --batch 1,64 --precision fp32,fp16 --build-mode implicit --warmup 100 --duration 0.2
  step targets python3 bench/gpu_targets.py "$P/gpu-targets.json"
  step nvml python3 bench/nvml_overhead.py --out "$P/nvml" --pairs 3 -- -b torch -m transformer --precision fp16 \
    --batch 32 --build-mode implicit --warmup 100 --duration 0.3
  ;;
extra)
  [ -x bench/gpu_extra.sh ] && step extra bash bench/gpu_extra.sh "$P"
  ;;
esac
snapshot end
tar czf "$OUT/$stage.tar.gz" -C "$OUT" "$stage"
cat "$P/steps.txt"
