#!/usr/bin/env bash
# Train the learned models (the commands README lists).
#
#   scripts/train_shipped_models.sh [OUT_DIR]
#       The models shipped in src/nlmeans_cli/models: gaussian with two stages at sigma 5,
#       15, 25 and 50, embedded-gaussian with one stage (its second stage measured worse) at
#       15, 25 and 50; a grey and a colour model each.
#   scripts/train_shipped_models.sh --ablation OUT_DIR
#       README's affinity ablation: every affinity with two stages at sigma 15, 25 and 50
#       (then: python benchmarks/learned.py OUT_DIR).
#
# Grey training images: PyWavelets' aero and ascent, scikit-image's astronaut, chelsea and
# rocket (as grey); colour: astronaut, chelsea and rocket; validation: scikit-image's coffee.
# No test image of README's tables is among them.
set -euo pipefail

train() {  # AFFINITY SIGMA STAGES OUT_DIR
  local affinity=$1 sigma=$2 stages=$3 out=$4 window=15
  # Smaller windows at low noise do as well and keep the time within 3x the classic engine.
  if [ "$sigma" = 5 ]; then window=11; elif [ "$sigma" = 15 ]; then window=13; fi
  nlm train pywt:aero pywt:ascent skimage:astronaut skimage:chelsea skimage:rocket \
    --val skimage:coffee --sigma "$sigma" --affinity "$affinity" --stages "$stages" \
    --search-window "$window" --seed 0 --quiet --overwrite \
    --out "$out/$affinity-sigma$sigma.npz"
  nlm train skimage:astronaut skimage:chelsea skimage:rocket --colour \
    --val skimage:coffee --sigma "$sigma" --affinity "$affinity" --stages "$stages" \
    --search-window "$window" --seed 0 --quiet --overwrite \
    --out "$out/$affinity-colour-sigma$sigma.npz"
}

if [ "${1:-}" = --ablation ]; then
  out=${2:?usage: $0 --ablation OUT_DIR}
  for affinity in gaussian embedded-gaussian dot-product concatenation; do
    for sigma in 15 25 50; do train "$affinity" "$sigma" 2 "$out"; done
  done
else
  out=${1:-src/nlmeans_cli/models}
  for sigma in 5 15 25 50; do train gaussian "$sigma" 2 "$out"; done
  for sigma in 15 25 50; do train embedded-gaussian "$sigma" 1 "$out"; done
fi
