#!/usr/bin/env bash
# Reproduces batch_ocr/models/printed: the SRN trained on synthetic printed lines rendered from the
# fonts in batch_ocr/train/fonts/train.txt; validated and tested on held-out fonts
# (batch_ocr/train/fonts/heldout.txt) that never train.
# Every step is resumable: rerun after any stop. On 2 CPU cores: ~25 min rendering, hours training.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-work/data}
RUN=${RUN:-work/runs/printed}
# Three phases, as the shipped model was trained: 10 000 steps at a peak LR of 1e-3, then the same
# run resumed (weights and optimizer state) on a new cosine schedule to 21 500 at a peak of 5e-4,
# then again to STEPS at a peak of 1e-3 (2.3e-4 where it resumes, 5e-5 at the end). Each export is
# the best validation so far (the shipped one: step 29 000).
FIRST_STEPS=${FIRST_STEPS:-10000}
SECOND_STEPS=${SECOND_STEPS:-21500}
STEPS=${STEPS:-30000}
bash jobs/install_fonts.sh
python -m batch_ocr.train.prerender --out "$DATA/printed_val" --split heldout --shards 1 --lines-per-shard 600 --seed 101
python -m batch_ocr.train.prerender --out "$DATA/printed_test" --split heldout --shards 1 --lines-per-shard 1000 --seed 202
# Training starts once the first shards exist and picks up new ones as the renderer writes them.
python -m batch_ocr.train.prerender --out "$DATA/printed_train" --split train --shards 150 --lines-per-shard 2000 --seed 7 --max-chars 40 &
renderer=$!
until ls "$DATA/printed_train"/*.npz >/dev/null 2>&1; do sleep 10; done
DESCRIBE="300000 synthetic printed lines (150 shards x 2000, seed 7, up to 40 characters) rendered by batch_ocr.train.prerender from the 82 fonts of batch_ocr/train/fonts/train.txt with scanner/camera degradations; validation: 500 lines in the 10 held-out fonts of heldout.txt (seed 101). Steps 0-$FIRST_STEPS at peak LR 1e-3, resumed to $SECOND_STEPS with a cosine schedule at peak 5e-4, resumed again on a cosine schedule to $STEPS at peak 1e-3"
train() {  # train STEPS LR: resumes from the run's checkpoint whenever there is one
  batch-ocr train --run-dir "$RUN" --data "synth:$DATA/printed_train" --val "synth:$DATA/printed_val" \
    --val-count 500 --export "$RUN/export" --name printed --charset printed --height 32 \
    --steps "$1" --lr "$2" --warmup-steps 800 --max-chars 40 --eval-every 1000 --seed 0 \
    --describe "$DESCRIBE"
}
train "$FIRST_STEPS" 1e-3
wait "$renderer"
train "$SECOND_STEPS" 5e-4
train "$STEPS" 1e-3
python -m batch_ocr.train.export_eval_set "$DATA/printed_test" "$RUN/test_set"
batch-ocr eval "$RUN/test_set/labels.csv" --model "$RUN/export" --segment line -o "$RUN/test_eval.json"
# The clean end of the range: held-out fonts at native resolution, mild effects only.
python -m batch_ocr.train.clean_set "$DATA/clean_test" --lines 500 --seed 303
batch-ocr eval "$DATA/clean_test/labels.csv" --model "$RUN/export" --segment line -o "$RUN/clean_eval.json"
echo "copy $RUN/export/{model.keras,card.json} to batch_ocr/models/printed/ to ship it"
