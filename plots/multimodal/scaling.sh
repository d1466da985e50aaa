#!/usr/bin/env bash
# Scaling the multimodal network's IMAGE encoder under params <= 2x (budget_scope=image, the default:
# the text branch is outside the budget), every method, 2 seeds each, on shape_reports with the
# text-guided segmentation head (mIoU: the classification head reaches 100% on this data within a few
# epochs, so it cannot rank the methods). Runs are named like `scaler reproduce`'s (Baseline, D, W, R,
# WDR, AWDR -seedS), so `scaler report` knows each run's method and compares it with the baseline.
# Run from the repository root:
#     plots/multimodal/scaling.sh [OUT]       (default OUT: runs/multimodal_scaling; the report: OUT/report)
set -euo pipefail
OUT=${1:-runs/multimodal_scaling}
SCALER=${SCALER:-scaler}
COMMON=(--model multimodal --data shape_reports --base-width 16 --option head=segmentation
        --option image_encoder=unet --option levels=3 --option embed_dim=16 --option hidden_size=16
        --budget params=2x --epochs 4 --batch-size 32 --lr 3e-3 --no-augment --no-progress)
declare -A METHODS=([Baseline]=baseline [D]=depth [W]=width [R]=resolution [WDR]=compound [AWDR]=asymmetric)
for seed in 0 1; do
  for name in Baseline D W R WDR AWDR; do
    $SCALER train "${COMMON[@]}" --method "${METHODS[$name]}" --seed "$seed" --out "$OUT/$name-seed$seed"
  done
done
$SCALER report "$OUT"/*-seed* --out "$OUT/report"
