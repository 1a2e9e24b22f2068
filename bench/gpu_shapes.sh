#!/usr/bin/env bash
# GPU evidence of issue #15 (shapes beyond batch): the built-in encoder (int64 input_ids + attention_mask,
# [batch, seq]) at three sequence lengths, in one dynamic engine (explicit: one profile over seq 128/256/512,
# min/opt/max = 128/256/512) and as static engines (implicit: one per length), on
#   - TensorRT 8.6 under python3.9 (the ../shared/trt86 payload unpacked, /tmp/trt86 on PATH), and
#   - PyTorch (onnx2torch) under python3.
# Usage, from the repository root, PYTHONPATH set to it:
#   PYTHONPATH=$PWD bash bench/gpu_shapes.sh OUTDIR
# Each matrix writes OUTDIR/<backend>/<run-id>/results.jsonl, its exact command to OUTDIR/<backend>.cmd, its output
# to OUTDIR/<backend>.log; OUTDIR/steps.txt has the exit codes. Budget: 6 variants per backend (batch 8, three
# lengths, two build modes), 3 trials of >= 0.2 s after 100 ms of warm-up; TensorRT builds 4 engines (about
# 1-2 minutes in all on an H100, most of it TensorRT building).
# Overrides: BACKEND replaces both backends (tests/test_gpu_shapes_script.py runs it with onnxruntime on a CPU),
# TRT_PY / TORCH_PY the interpreters, SEQS the lengths, BATCHES the batches, CACHE_DIR the engine cache.
set -u
out=${1:?usage: bench/gpu_shapes.sh OUTDIR}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
common=(-m encoder --batch "${BATCHES:-8}" --dim "seq=${SEQS:-128,256,512}" --build-mode implicit,explicit
        --trials 3 --duration 0.2 --warmup 100 -q)
[ -n "${CACHE_DIR:-}" ] && common+=(--cache-dir "$CACHE_DIR")

run() {  # run NAME PYTHON BACKEND: one matrix, its command and exit code recorded
  local name=$1 py=$2 backend=$3
  local cmd=("$py" -m trtbench run -b "$backend" "${common[@]}" --results "$out/$name")
  printf '%q ' "${cmd[@]}" > "$out/$name.cmd"
  echo >> "$out/$name.cmd"
  echo "+ $(cat "$out/$name.cmd")"
  local t0; t0=$(date +%s)
  "${cmd[@]}" > "$out/$name.log" 2>&1
  local rc=$?
  echo "$name rc=$rc $(( $(date +%s) - t0 ))s" | tee -a "$out/steps.txt"
  tail -n 12 "$out/$name.log"
  return $rc
}

status=0
run tensorrt "${TRT_PY:-python3.9}" "${BACKEND:-tensorrt}" || status=1
run torch "${TORCH_PY:-python3}" "${BACKEND:-torch}" || status=1
exit $status
