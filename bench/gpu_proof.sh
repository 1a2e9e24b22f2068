#!/usr/bin/env bash
# The GPU evidence runs, as made on the H100 through the device tool (results committed under results/).
#   bash bench/gpu_proof.sh trt     # TensorRT 8.6 (CPython 3.9 payload, see ../shared/trt86/README.md)
#   bash bench/gpu_proof.sh torch   # the machine's Python: GPU tests, torch matrix, speed targets
#   bash bench/gpu_proof.sh pytest  # default `trtbench run`, `pytest bench/` on one GPU and with -n 2
#   bash bench/gpu_proof.sh ort     # onnxruntime-gpu (CUDA provider) and ModelOpt bf16 models: tests + matrix
#     (the onnxruntime-gpu wheel, 244 MB, is carried in 48 MiB parts: `split -b 44M -d -a 2 WHEEL .ortgpu/part-`,
#      one device call per part moving it to /tmp/ortparts/; the small wheels travel in .gpuw/)
# A device call carries the tracked tree (about 17 MB now) plus the named parts within 64 MiB: split
# large payloads (the TensorRT 8.6 one too) at 44M or less.
# Writes everything under $OUT/p and packs it into $OUT/<stage>.tar.gz.
set -u
stage=${1:?stage: trt or torch}
OUT=${OUT:-/tmp/out}; P=$OUT/p; mkdir -p "$P"
export PYTHONUNBUFFERED=1
root=$(cd "$(dirname "$0")/.." && pwd); cd "$root"
if [ "$stage" = trt ]; then
  bash .trt/tools/unpack-on-gpu.sh && export PATH=/tmp/trt86:$PATH
  export PYTHONPATH=$root
  cache=$P/cache
  python3.9 -m pytest tests/test_tensorrt_real.py tests/test_gpu.py -q -p no:cacheprovider -rs 2>&1 | tee "$P/tensorrt86-tests.log" | tail -15
  python3.9 -m trtbench run -b tensorrt --precision fp32,fp16 --batch 1,32 --profile dyn:1,8,32 \
    --cache-dir "$cache" --results "$P/res" 2>&1 | tee "$P/tensorrt86-matrix.log" | tail -30
  python3.9 -m trtbench run -b tensorrt --precision fp32,fp16 --batch 1,32 --profile dyn:1,8,32 \
    --cache-dir "$cache" --results "$P/res" 2>&1 | tee "$P/tensorrt86-matrix-cached.log" | tail -3
  python3.9 -m trtbench run -b tensorrt -m resnet --precision int8,fp16-io,tf32 --batch 8 --build-mode explicit \
    --profile dyn:1,8,32 --layer-profile --cache-dir "$cache" --results "$P/res" 2>&1 | tee "$P/tensorrt86-precisions.log" | tail -8
  rm -rf "$cache"
elif [ "$stage" = pytest ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site ${WHEELS:-.whl}/*.whl >/dev/null 2>&1
  export PYTHONPATH=/tmp/site:$root
  nvidia-smi -L | tee "$P/gpus.txt"
  python3 -m trtbench run --results "$P/res" 2>&1 | tee "$P/default-matrix.log" | tail -18
  # the package is not pip-installed there, so the plugin is named with -p (an installed trtbench registers it)
  python3 -m pytest bench/ -p trtbench.pytest_plugin -q -p no:cacheprovider --benchmark-json "$P/bench-1gpu.json" \
    --trtbench-backend torch,tensorrt --trtbench-results "$P/res" 2>&1 | tee "$P/bench-1gpu.log" | tail -8
  python3 -m pytest bench/ -p trtbench.pytest_plugin -q -p no:cacheprovider -n 2 --benchmark-json "$P/bench-2gpu.json" \
    --trtbench-backend torch --trtbench-results "$P/res" 2>&1 | tee "$P/bench-2gpu.log" | tail -8
elif [ "$stage" = ort ]; then
  if [ ! -d /tmp/site/onnxruntime ] || [ ! -d /tmp/site/modelopt ]; then
    cat /tmp/ortparts/part-* > /tmp/onnxruntime_gpu-1.31.1-cp312-cp312-manylinux_2_28_x86_64.whl
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site \
      /tmp/onnxruntime_gpu-1.31.1-cp312-cp312-manylinux_2_28_x86_64.whl .gpuw/*.whl 2>&1 | tail -3
  fi
  export PYTHONPATH=/tmp/site:$root
  python3 -c "import onnxruntime as o, modelopt; print('onnxruntime', o.__version__, o.get_available_providers(), 'modelopt', modelopt.__version__)" \
    2>&1 | tee "$P/ort-versions.txt"
  python3 -m pytest tests/test_gpu.py tests/test_precision.py -v -p no:cacheprovider -rs 2>&1 \
    | grep -E "PASSED|FAILED|SKIPPED|ERROR|passed|failed" | tee "$P/ort-gpu-tests.log" | tail -15
  python3 -m trtbench run -b onnxruntime,torch -m resnet,transformer --precision fp32,tf32,fp16,fp16-io,bf16,bf16-io,int8 \
    --batch 1,32 --build-mode explicit --profile dyn:1,8,32 --results "$P/res" 2>&1 | tee "$P/ort-torch-precisions.log" | tail -60
  python3 -m pytest bench/ -p trtbench.pytest_plugin -q -p no:cacheprovider --benchmark-json "$P/bench-ort.json" \
    --trtbench-backend onnxruntime --trtbench-results "$P/res" 2>&1 | tee "$P/bench-ort.log" | tail -8
else
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl >/dev/null 2>&1
  export PYTHONPATH=/tmp/site:$root
  python3 -m pytest tests -q -p no:cacheprovider -rs 2>&1 | tee "$P/gpu-tests-py312.log" | tail -15
  python3 -m trtbench run --results "$P/res" 2>&1 | tee "$P/default-matrix.log" | tail -16
  python3 -m trtbench run -b torch --precision fp32,tf32,fp16,bf16 --batch 1,64 -m resnet,transformer \
    --build-mode implicit --results "$P/res" 2>&1 | tee "$P/torch-precisions.log" | tail -20
  python3 bench/gpu_targets.py "$P/gpu-targets.json" 2>&1 | tee "$P/gpu-targets.log"
fi
tar czf "$OUT/$stage.tar.gz" -C "$OUT" p
