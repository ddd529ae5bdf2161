#!/usr/bin/env bash
# The checks that need a CUDA device, in one go: the tests marked `gpu`, then
# scripts/bench_gpu.py, scripts/bench_bb.py, scripts/bench_pairs.py and scripts/bench_sinkhorn.py on CUDA. Logs go to $OUT (default ./gpu-results). Wheels found
# in .whl/ (pykeops, keopscore, geomloss, POT for a machine without network)
# are installed into /tmp/site first.
#
#     bash scripts/gpu_checks.sh
set -u
OUT=${OUT:-gpu-results}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
if compgen -G ".whl/*.whl" > /dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
"$PY" -c "import torch, pykeops; print(torch.__version__, torch.cuda.get_device_name(), pykeops.__version__)" 2>&1 | tee "$OUT/versions.txt"
"$PY" -m pytest -m "gpu and not keops" -v -p no:cacheprovider tests 2>&1 | tee "$OUT/gpu-tests.log"
# KeOps (opt-in) on its own: a crash inside pykeops must not hide the results above
"$PY" -m pytest -m "gpu and keops" -v -p no:cacheprovider tests 2>&1 | tee "$OUT/gpu-keops-tests.log"
timeout "${BENCH_TIMEOUT:-360}" "$PY" scripts/bench_gpu.py ${BENCH_ARGS:-} 2>&1 | tee "$OUT/bench-gpu.txt"
timeout 150 "$PY" scripts/bench_bb.py --device cuda 2>&1 | tee "$OUT/bench-bb-cuda.txt"
timeout 200 "$PY" scripts/bench_pairs.py --device cuda --sizes 256,1024,4096 2>&1 | tee "$OUT/bench-pairs-cuda.txt"
timeout 240 "$PY" scripts/bench_sinkhorn.py --device cuda --sizes 100000,1000000 2>&1 | tee "$OUT/bench-sinkhorn-cuda.txt"
