#!/usr/bin/env bash
# Train the learned networks (the commands README lists). Needs ../shared/data/train400 (the
# standard 400-image grey training set) and the extra: pip install '.[train]'.
#
#   scripts/train_shipped_models.sh [OUT_DIR]
#       The networks shipped in src/nlmeans_cli/models: embedded-gaussian at sigma 15, 25 and
#       50 (sigma 25 and 50 with 4 + 4 3x3 layers, 15 with 3 + 3), each fine-tuned from the
#       sigma-25 start (scripts/checkpoints/prototype-sigma25.npz: 7750 steps of a first
#       script version of nlm train's loop, in git history as scripts/train_network.py).
#   scripts/train_shipped_models.sh --ablation OUT_DIR
#       README's ablation at sigma 25: the four affinities and the network without its block,
#       each from scratch for the same number of steps (then python benchmarks/learned.py).
#
# Every 10th image of train400 (sorted by name) is held back and reported on, never trained on.
set -euo pipefail
data=${TRAIN400:-../shared/data/train400}
start=scripts/checkpoints/prototype-sigma25.npz

if [ "${1:-}" = --ablation ]; then
  out=${2:?usage: $0 --ablation OUT_DIR}
  mkdir -p "$out"
  for variant in gaussian embedded-gaussian dot-product concatenation no-block; do
    if [ "$variant" = no-block ]; then flags=(--no-block); else flags=(--affinity "$variant"); fi
    nlm train "$data" --hold-out-every 10 --sigma 25 "${flags[@]}" --steps 800 --every 800 \
      --seed 0 --quiet --overwrite --out "$out/$variant-sigma25.npz"
  done
else
  out=${1:-src/nlmeans_cli/models}
  mkdir -p "$out"
  stages=$(mktemp -d)
  tune() {  # SIGMA INIT STEPS RATE SEED OUT
    nlm train "$data" --hold-out-every 10 --sigma "$1" --init "$2" --steps "$3" \
      --learning-rate "$4" --every "$3" --seed "$5" --quiet --overwrite --out "$6"
  }
  tune 15 "$start" 2000 0.0003 0 "$out/embedded-gaussian-sigma15.npz"
  # sigma 50 and 25: a second, gentler stage on other crops (seed 1)
  tune 50 "$start" 2000 0.0003 0 "$stages/sigma50-stage1.npz"
  tune 50 "$stages/sigma50-stage1.npz" 1000 0.0001 1 "$stages/sigma50-stage2.npz"
  tune 25 "$start" 1500 0.0002 0 "$stages/sigma25-stage1.npz"
  tune 25 "$stages/sigma25-stage1.npz" 1200 0.0001 1 "$stages/sigma25-stage2.npz"
  # sigma 25 and 50 then one layer deeper on either side of the block: identity layers
  # added (the same function), trained on
  for sigma in 25 50; do
    nlm train "$data" --hold-out-every 10 --sigma "$sigma" --before 4 --after 4 \
      --init "$stages/sigma$sigma-stage2.npz" --steps 3000 --learning-rate 0.0002 --every 500 \
      --seed 3 --quiet --overwrite --out "$out/embedded-gaussian-sigma$sigma.npz"
  done
fi
