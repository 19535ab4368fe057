#!/usr/bin/env bash
# The prepared GPU check (about 4 minutes on one H100/H200 without quality runs, before 2b was added, which is
# not timed yet; docs/performance.md, "GPU"):
#   1. training throughput of every architecture on CUDA: 200 steps each with bf16, 100 with fp16 autocast;
#   2. the FID feature pass (ganzoo's inception extractor vs pytorch-fid) on CUDA;
#   2b. throughput, peak memory and the memory estimate per resolution (128/256/512 px, bf16), and of the
#      256 px GPU recipes (recipes/*-256-gpu.yaml) with their own batch and amp;
#   3. with QUALITY_SECONDS > 0, short catalogue training runs side by side, whose grids show what each
#      recipe learns per image seen (0, the default, skips them).
# Tables go into docs/performance.md (a copy lands in OUT); logs, grids and stats go to OUT.
#   bash benchmarks/gpu.sh OUT [QUALITY_SECONDS]
set -uo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-gpu-check}"); quality_s=${2:-0}
mkdir -p "$out"
export GANZOO_TENSORBOARD=0 PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
python -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" | tee -a "$out/gpu.txt"

bench=(--device cuda --batch-size 64 --warmup 10 --write)
python benchmarks/architectures.py "${bench[@]}" --steps 200 --amp bf16 --section gpu_architectures_bf16
python benchmarks/architectures.py "${bench[@]}" --steps 100 --amp fp16 --resolutions 32 --section gpu_architectures_fp16
python benchmarks/feature_throughput.py --device cuda --images 5000 --no-stream --write \
    --section gpu_feature_throughput
python benchmarks/resolution_throughput.py --device cuda --amp bf16 --batch-size 32 --steps 20 --warmup 5 \
    --write --section gpu_resolution_throughput
python benchmarks/resolution_throughput.py --device cuda --steps 20 --warmup 5 \
    --recipes recipes/dcgan-256-gpu.yaml recipes/stylegan-lite-256-gpu.yaml --write --section gpu_recipes_256
cp docs/performance.md "$out/"

# Quality: each run stops after quality_s seconds (or its budget); the grids say how far it got.
if [ "$quality_s" -le 0 ]; then ls -la "$out"; exit 0; fi
runs="$out/runs"
train() {  # name recipe overrides...
  local name=$1 recipe=$2; shift 2
  local sets=(--set run.output_dir="$runs" --set run.name="$name" --set run.threads=1)
  for s in "$@"; do sets+=(--set "$s"); done
  mkdir -p "$runs"
  timeout "$quality_s" python -m ganzoo run "$recipe" "${sets[@]}" >"$runs/$name.log" 2>&1 &
}
train sg-base recipes/stylegan-lite-catalogue.yaml
train sg-ramp recipes/stylegan-lite-catalogue.yaml train.ema.rampup=0.05
train sg-noaug recipes/stylegan-lite-catalogue.yaml train.ema.rampup=0.05 'train.augment=[]'
train sg-w16 recipes/stylegan-lite-catalogue.yaml train.ema.rampup=0.05 architecture.width=16 architecture.max_width=64
train wg-base recipes/wgan-gp-catalogue.yaml
train wg-drift recipes/wgan-gp-catalogue.yaml architecture.drift=0.001 train.ema.rampup=0.05
wait
tail -n 3 "$runs"/*.log
tar -czf "$out/quality.tgz" -C "$runs" $(cd "$runs" && ls -d *.log */grids */stats.jsonl */run.json 2>/dev/null)
rm -rf "$runs"
ls -la "$out"
