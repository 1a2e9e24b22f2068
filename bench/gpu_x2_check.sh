python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl2/*.whl >/dev/null 2>&1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1; mkdir -p $OUT/p
nvidia-smi -L | tee $OUT/p/gpus.txt
python3 -m pytest bench/ -p trtbench.pytest.plugin -q -p no:cacheprovider -n 2 --benchmark-json $OUT/p/bench-2gpu.json --trtbench-backend torch --trtbench-results $OUT/p/res 2>&1 | tail -3 | tee $OUT/p/bench-2gpu.log
python3 -m pytest tests/test_gpu.py -q -p no:cacheprovider -k "agree or fingerprint or nvml" 2>&1 | tail -2 | tee $OUT/p/gpu-tests.log
tar czf $OUT/x2.tar.gz -C $OUT p
