#!/usr/bin/env bash
# The GPU evidence of load (issue #16): latency-throughput curves on real TensorRT 8.6 and PyTorch, for a
# built-in model (resnet) and a large GPU-bound one (bench/calib_models.py's 2048-wide MLP, calib_base.onnx),
# an open-loop sweep, a latency-budget search, a dynamic engine with 4 contexts sharing its profile, and
# trtbench's throughput at concurrency 4 against the independent bare-API multi-stream loop on the same plan.
#
#   bash bench/gpu_load.sh OUTDIR
#
# TensorRT runs under `python3.9` on PATH (the TensorRT 8.6 payload, ../shared/trt86/README.md) with the repo
# on PYTHONPATH; PyTorch under `python3` (onnx2torch from $WHEELS, default .whl/, when its wheel is there, as
# ../shared/gpu-wheels.sh puts it).
# About 3 minutes of GPU time on an H100. Everything lands in OUTDIR: one log per step (steps.txt says each
# step's exit code and seconds), the results files, the comparison (compare/load-compare.{json,md}) and the
# report (report/index.html, report.md, latency_throughput.png). Nothing changes a device setting.
#
# The CPU check (no GPU): PY_TRT=python3 PY_TORCH=python3 TRT_BACKEND=onnxruntime TORCH_BACKEND=onnxruntime \
#   CALIB_BATCH=4 bash bench/gpu_load.sh OUTDIR   runs every trtbench command below on onnxruntime; the plan
#   export and the bare comparison need TensorRT and are skipped, saying so.
set -u
OUT=${1:?usage: bash bench/gpu_load.sh OUTDIR}
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd); cd "$root"
export PYTHONUNBUFFERED=1 PYTHONPATH=$root
PY_TRT=${PY_TRT:-python3.9}; PY_TORCH=${PY_TORCH:-python3}
B_TRT=${TRT_BACKEND:-tensorrt}; B_TORCH=${TORCH_BACKEND:-torch}
CB=${CALIB_BATCH:-512}  # the MLP's batch: 512 x 2048 fp32 is GPU-bound (about 17 GFLOP a query)
C=$OUT/cache; M=$OUT/models
COMMON=(--trials 2 --warmup 100 --duration 0.3 --cache-dir "$C" -q)
TORCH_PATH=$root
WHEELS=${WHEELS:-.whl}
if [ "$B_TORCH" = torch ] && ls "$WHEELS"/onnx2torch-*.whl >/dev/null 2>&1; then
  "$PY_TORCH" -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$WHEELS"/onnx2torch-*.whl \
    > "$OUT/pip.log" 2>&1 && TORCH_PATH=/tmp/site:$root
fi
: > "$OUT/steps.txt"
step() {  # step NAME CMD...: run it, log it, time it; a failed step is recorded and the rest goes on
  local name=$1; shift
  local t0; t0=$(date +%s)
  echo "\$ $*" > "$OUT/$name.log"
  "$@" >> "$OUT/$name.log" 2>&1
  local rc=$?
  echo "$name rc=$rc $(( $(date +%s) - t0 ))s" | tee -a "$OUT/steps.txt"
  tail -n "${TAIL:-14}" "$OUT/$name.log"
  return $rc
}
nvidia-smi -q -d CLOCK,PERFORMANCE,TEMPERATURE,POWER > "$OUT/nvidia-smi-start.txt" 2>&1
echo "commit ${TRTBENCH_GIT_COMMIT:-unknown}; $($PY_TRT -c 'import sys; print(sys.version.split()[0])' 2>&1)" > "$OUT/env.txt"

step models "$PY_TRT" bench/calib_models.py "$M" --extra 128
MLP=$M/calib_base.onnx
# 1. TensorRT curves: concurrency 1, 2, 4, 8 (closed loop), the built-in resnet and the GPU-bound MLP
step trt-resnet "$PY_TRT" -m trtbench run -b "$B_TRT" -m resnet --precision fp16 --batch 8 --build-mode implicit \
  --concurrency 1,2,4,8 "${COMMON[@]}" --results "$OUT/trt"
step trt-mlp "$PY_TRT" -m trtbench run -b "$B_TRT" -m "$MLP" --batch "$CB" --build-mode implicit \
  --concurrency 1,2,4,8 --no-accuracy "${COMMON[@]}" --results "$OUT/trt"
# 2. open loop on the MLP at 4 in flight: 25..90% of its closed-loop throughput there (Poisson, seeded)
RATES=$("$PY_TRT" bench/load_rates.py "$OUT/trt" "calib_base-$B_TRT-fp32-implicit-b$CB-c4" 2>>"$OUT/rates.log")
echo "open-loop rates: ${RATES:-none}" | tee -a "$OUT/steps.txt"
[ -n "$RATES" ] && step trt-mlp-open "$PY_TRT" -m trtbench run -b "$B_TRT" -m "$MLP" --batch "$CB" \
  --build-mode implicit --concurrency 4 --request-rate "$RATES" --no-accuracy "${COMMON[@]}" --results "$OUT/trt"
# 3. the latency-budget search (resnet, 4 in flight, p99 within 1 ms) and a dynamic engine whose 4 contexts share
#    profile 0 (TensorRT 8.6: built with PreviewFeature.PROFILE_SHARING_0806)
step trt-budget "$PY_TRT" -m trtbench run -b "$B_TRT" -m resnet --precision fp16 --batch 8 --build-mode implicit \
  --concurrency 4 --latency-budget 1ms "${COMMON[@]}" --results "$OUT/trt"
step trt-dynamic "$PY_TRT" -m trtbench run -b "$B_TRT" -m resnet --precision fp16 --batch 8 --build-mode explicit \
  --profile dyn:1,8,8 --concurrency 1,4 "${COMMON[@]}" --results "$OUT/trt"
# 4. trtbench at concurrency 4 against bench/bare_trt_multistream.py on the same (GPU-bound) plan
if [ "$B_TRT" = tensorrt ]; then
  step export "$PY_TRT" bench/export_plans.py "$C" "$OUT/plans" --match "calib_base-tensorrt-fp32-implicit-b$CB" \
    "calib_base-tensorrt-fp32-implicit-b$CB-c2" "calib_base-tensorrt-fp32-implicit-b$CB-c4" \
    "calib_base-tensorrt-fp32-implicit-b$CB-c8"
  TAIL=6 step compare "$PY_TRT" bench/load_compare.py --plans "$OUT/plans" --out "$OUT/compare" --streams 4 --reps 2 \
    --duration 1.0 --python "$PY_TRT"
else
  echo "export, compare skipped: the bare multi-stream loop needs TensorRT (backend here: $B_TRT)" | tee -a "$OUT/steps.txt"
fi
# 5. PyTorch curves (CUDA graphs where the module can be captured), and resnet eager at 4 in flight: the launch
#    cost a graph removes is what brings a launch-bound variant near the harness ceiling
step torch-resnet env PYTHONPATH="$TORCH_PATH" "$PY_TORCH" -m trtbench run -b "$B_TORCH" -m resnet --precision fp16 \
  --batch 8 --build-mode implicit --concurrency 1,2,4,8 "${COMMON[@]}" --results "$OUT/torch"
step torch-mlp env PYTHONPATH="$TORCH_PATH" "$PY_TORCH" -m trtbench run -b "$B_TORCH" -m "$MLP" --batch "$CB" \
  --build-mode implicit --concurrency 1,2,4,8 --no-accuracy "${COMMON[@]}" --results "$OUT/torch"
step torch-eager env PYTHONPATH="$TORCH_PATH" "$PY_TORCH" -m trtbench run -b "$B_TORCH" -m resnet --precision fp16 \
  --batch 8 --build-mode implicit --concurrency 1,4 --no-cuda-graph "${COMMON[@]}" --results "$OUT/torch-eager"
# 6. the report: curves with the knee, the Pareto table under a 1 ms budget
step report env PYTHONPATH="$TORCH_PATH" "$PY_TORCH" -m trtbench report "$OUT/trt" "$OUT/torch" "$OUT/torch-eager" \
  -o "$OUT/report" --latency-budget 1ms --title "trtbench under load"
nvidia-smi -q -d CLOCK,PERFORMANCE,TEMPERATURE,POWER > "$OUT/nvidia-smi-end.txt" 2>&1
rm -rf "$C"
cat "$OUT/steps.txt"
