#!/usr/bin/env bash
# The paper's table on CamVid at three seeds, as made for plots/camvid_table1_3seeds (2-core CPU, ~2 h 15 min).
# Two reproduce processes, one core each, split the six networks into two groups of about equal cost; a third call
# on the union of their run folders finds every run finished, times the six networks in one isolated interleaved
# phase (1 thread, CPU clock, bf16 + channels_last as trained) and writes the report. Every call is resumable.
set -euo pipefail
OUT=${OUT:-reports/camvid3}
mkdir -p "$OUT"
COMMON=(--data camvid --data-root ../shared/data/camvid --seeds 3 --epochs 30 --base-width 16 --input 96x128
        --train-option amp=bf16 --train-option channels_last=true)
OMP_NUM_THREADS=1 scaler reproduce "${COMMON[@]}" --out "$OUT/A" --network WDR --network W --network Baseline \
    --progress --time-threads 1 > "$OUT/A.log" 2>&1 &
OMP_NUM_THREADS=1 scaler reproduce "${COMMON[@]}" --out "$OUT/B" --network AWDR --network D --network R \
    --progress --time-threads 1 > "$OUT/B.log" 2>&1 &
wait
mkdir -p "$OUT/all/runs"
cp -r "$OUT"/A/runs/* "$OUT"/B/runs/* "$OUT/all/runs/"
OMP_NUM_THREADS=1 scaler reproduce "${COMMON[@]}" --out "$OUT/all" --time-threads 1 --time-amp bf16 --time-channels-last
