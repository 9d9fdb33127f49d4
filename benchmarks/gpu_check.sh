#!/usr/bin/env bash
# The GPU path in one run: the test suite (CUDA tests included), the claims at both scales on
# the GPU, the GD-loop benchmark, and every notebook's code at both scales, timed.
# Usage (on a CUDA machine, from the repository root): bash benchmarks/gpu_check.sh [OUT_DIR]
set -uo pipefail
out=${1:-_build/gpu}
mkdir -p "$out"
export PYTHONPATH=lib PYTHONUNBUFFERED=1 MPLBACKEND=Agg
nvidia-smi -L
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"
python3 -m pytest tests -q -p no:cacheprovider -x 2>&1 | tail -6
for scale in default paper; do
  for id in $(python3 -m beyondlazy.claims list | cut -f1); do
    for seed in 0 1; do
      python3 -m beyondlazy.claims run "$id" --seed "$seed" --scale "$scale" --save "$out" | head -1
    done
  done
done
python3 benchmarks/bench_gd_loop.py --device cuda --n 80 --m 1600 --batch 8 --steps 200
python3 benchmarks/bench_gd_loop.py --device cuda --n 200 --m 10000 --batch 1 --steps 50
for nb in $(python3 -m tools.notebooks list 2>/dev/null || ls chapters/*.ipynb); do
  for scale in default paper; do
    BEYONDLAZY_SCALE=$scale python3 -m tools.run_notebook_as_script "$nb" 2>&1 | tail -1 | sed "s/^/[$scale] /"
  done
done
