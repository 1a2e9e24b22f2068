#!/usr/bin/env bash
# Which part of the harness moves small plans' compute: the launch gate, blocking waits, NVML, data transfers?
# On a GPU machine with TensorRT 8.6 (../shared/trt86), as made through the device tool:
#   bash bench/gate_probe.sh OUTDIR [CACHE_DIR]
# Builds three small engines (mlp fp16 b64, transformer fp32 b1, resnet fp16 b1), times them with the bare
# clock (gated and query, with and without --transfers) and with `trtbench run --engine` under six flag sets,
# 3 trials each, in one go; prints one line per variant and configuration. Nothing on the device is changed.
set -u
out=${1:?OUTDIR}; cache=${2:-/tmp/ev/cache}
mkdir -p "$out/plans"
py=${PY:-python3.9}
for spec in "mlp 64 fp16" "transformer 1 fp32" "resnet 1 fp16"; do
  set -- $spec
  $py -m trtbench run -b tensorrt -m "$1" --batch "$2" --precision "$3" --build-mode implicit --trials 1 --duration 0.05 \
    --no-accuracy --cache-dir "$cache" --results "$out/warm" -q > /dev/null || exit 1
done
$py bench/export_plans.py "$cache" "$out/plans" --match mlp-tensorrt-fp16-implicit-b64 \
  transformer-tensorrt-fp32-implicit-b1 resnet-tensorrt-fp16-implicit-b1 || exit 1
plans=(); engines=()
for p in "$out"/plans/*.plan; do plans+=(--plan "$p"); engines+=(--engine "$p"); done
for m in gated query; do
  for t in "" --transfers; do
    $py bench/bare_trt_clock.py --method "$m" $t --duration 0.3 "${plans[@]}" --json "$out/bare-$m${t}.json" \
      | sed "s|^.*/||; s|^|bare $m ${t:-(no transfers)}: |" | cut -c1-120
  done
done
i=0
for flags in "" "--no-launch-gate" "--spin-wait" "--no-nvml" "--no-data-transfers" "--isolation inline"; do
  i=$((i + 1))
  $py -m trtbench run "${engines[@]}" --trials 3 --duration 0.2 --warmup 100 --max-iterations 3000 \
    --results "$out/trtbench-$i" $flags 2>&1 | grep -E "^(mlp|transformer|resnet)" | sed "s|^|trtbench ${flags:-(defaults)}: |" | cut -c1-140
done
