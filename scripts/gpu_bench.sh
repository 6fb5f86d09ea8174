#!/usr/bin/env bash
# Issue #8, item 4: the ~125M-parameter benchmark on one CUDA GPU, prepared to run unattended in one call.
#
#   bash scripts/gpu_bench.sh eager     # all four models, bf16: bare loop, Trainer, generate b1/b8 (a few minutes)
#   bash scripts/gpu_bench.sh compile   # TinySLM seed vs GPT-2 compiled too (inductor compiles take minutes)
#
# It runs from a checkout without installing it: the GPU image needs torch, transformers >= 5.17 and accelerate (the
# lent H200 image had torch 2.11 and transformers 5.17 in 2026-11; the suite passes on 5.17). No datasets needed.
# Results (benchmark.{json,md,png}, gpu.txt) go to $OUT when set, else to gpu_bench_<stage>/. MFU is against the
# bf16 matmul peak measured in the same run (8192^3 matmuls).
set -euo pipefail
stage="${1:-eager}"
out="${OUT:-gpu_bench_$stage}"
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
    python3 -c "import torch, transformers, accelerate; print('torch', torch.__version__, 'cuda', torch.version.cuda,
'transformers', transformers.__version__, 'accelerate', accelerate.__version__)"
} | tee "$out/gpu.txt"

common=(scripts/benchmark.py --size 125m --device cuda --dtypes bfloat16 --trainer --out "$out")
case "$stage" in
    eager)
        python3 "${common[@]}" --repeats 3 --train-steps 10 --generate-batches 1,8 ;;
    compile)
        python3 "${common[@]}" --compile --models tinyslm-seed,gpt2 --repeats 2 --train-steps 10 \
            --generate-batches 1 ;;
    *)
        echo "usage: bash scripts/gpu_bench.sh [eager|compile]" >&2
        exit 2 ;;
esac
