#!/usr/bin/env bash
# Retrain the models shipped in src/nlmeans_cli/models (the commands README lists).
# Training images: PyWavelets' aero and ascent, scikit-image's astronaut, chelsea and rocket
# (as grey); validation: scikit-image's coffee. No test image of README's tables is among them.
set -euo pipefail
out=${1:-src/nlmeans_cli/models}
# Only the gaussian models ship: the others, trained the same way, did not yet beat the
# noisy input (see README).
for affinity in gaussian; do
  for sigma in 15 25 50; do
    nlm train pywt:aero pywt:ascent skimage:astronaut skimage:chelsea skimage:rocket \
      --val skimage:coffee --sigma "$sigma" --affinity "$affinity" --seed 0 --quiet \
      --overwrite --out "$out/$affinity-sigma$sigma.npz"
  done
done
