#!/usr/bin/env bash
# The STRUCTURE of the multimodal paper's Table I on the synthetic shape_reports data: the same
# network (multimodal family, classification head, 3-level U-Net image encoder of width 8, a 16-wide
# BiLSTM text branch) trained four ways, 3 seeds each, then `scaler report` over the run dirs:
#   image-only        blank_input=report (the CNN alone: the report is replaced by padding)
#   text-only         blank_input=image, text_attention=false (the BiLSTM alone)
#   text+attention    blank_input=image, text_attention=true (BiLSTM + self-attention)
#   fused             both inputs, attention on (the multimodal model)
# blank_input keeps every module (same counts); text_attention=false drops the attention layer. From the repo root:
#     plots/multimodal/table1.sh [OUT]        (default OUT: runs/multimodal_table1; the report: OUT/report)
# The study machinery cannot express it (a study varies scaling, not network options), hence this recipe.
set -euo pipefail
OUT=${1:-runs/multimodal_table1}
SCALER=${SCALER:-scaler}
COMMON=(--model multimodal --data shape_reports --base-width 8 --option image_encoder=unet --option levels=3
        --option fusion_width=32 --option embed_dim=16 --option hidden_size=16
        --epochs 6 --batch-size 32 --lr 3e-3 --loss ce --class-weights none --no-augment --no-progress)
declare -A ROWS=(
  [image-only]="--option blank_input=report"
  [text-only]="--option blank_input=image --option text_attention=false"
  [text+attention]="--option blank_input=image"
  [fused]=""
)
for seed in 0 1 2; do
  for name in image-only text-only text+attention fused; do
    # shellcheck disable=SC2086  # the row's options are words
    $SCALER train "${COMMON[@]}" ${ROWS[$name]} --seed "$seed" --out "$OUT/$name-seed$seed"
  done
done
$SCALER report "$OUT"/*-seed* --out "$OUT/report"
