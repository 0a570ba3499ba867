#!/usr/bin/env bash
# Reproduces a GPU fine-tune of the shipped `printed` model (its card's `training`): fresh
# synthetic lines rendered by a process pool while jobs/train_printed_gpu.py (Keras on JAX) trains
# on them, starting from an earlier model. Needs a CUDA machine with JAX, optax, OpenCV, Pillow,
# h5py and Keras 3, and the fonts of jobs/install_fonts.sh; TensorFlow is needed only for the last
# step (jobs/import_weights.py), which can run on any CPU machine.
#
# The shipped model took two rounds, each one lent GPU for a session:
#   1. card's earlier_finetune, from the CPU-trained model (card's base_training,
#      jobs/train_printed.sh), on an H200 with the trainer of that day, which compiled each width
#      inside its 450 s budget:
#      START=work/runs/printed/export SEED=1001 TRAIN_SEED=0 LR=4e-4 WARMUP=0.1 WORKERS=12 ...
#   2. card's training, from round 1, on an H100 (widths compiled before the clock, 272 s left):
#      START=work/runs/printed_gpu1/export OUT=work/runs/printed_gpu bash jobs/finetune_printed_gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
START=${START:-batch_ocr/models/printed}   # the model to fine-tune
OUT=${OUT:-work/runs/printed_gpu}
SHARDS=${SHARDS:-/tmp/printed_gpu_shards}
END_BY=${END_BY:-520}    # seconds from the trainer's start-up to the end of training, compiling included
SEED=${SEED:-3003}       # renderer seed: fresh lines, unlike any earlier round's
LR=${LR:-3e-4}
WARMUP=${WARMUP:-0.05}
TRAIN_SEED=${TRAIN_SEED:-3}
WORKERS=${WORKERS:-14}   # renderer processes of 16 cores: two left to the trainer
mkdir -p "$OUT"
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1
python -m batch_ocr.train.prerender --out "$SHARDS" --split train --shards 40000 \
  --lines-per-shard 250 --seed "$SEED" --lowres 0.2 --workers "$WORKERS" > "$OUT/render.log" 2>&1 &
renderer=$!
trap 'kill $renderer 2>/dev/null || true' EXIT
python jobs/train_printed_gpu.py --shards "$SHARDS" --out "$OUT" --tag ft --seconds 100000 \
  --end-by "$END_BY" --lr "$LR" --warmup "$WARMUP" --seed "$TRAIN_SEED" --init-from "$START" | tee "$OUT/ft.log"
kill $renderer 2>/dev/null || true
if python -c "import tensorflow" 2>/dev/null; then
  KERAS_BACKEND=tensorflow python jobs/import_weights.py "$OUT/ft.weights.h5" --history "$OUT/ft.json" \
    --export "$OUT/export" --val synth:work/data/printed_val --val-count 500 \
    --data "synth:prerender --split train --seed $SEED --lowres 0.2 (rendered beside the trainer)"
  echo "copy $OUT/export/{model.keras,card.json} to batch_ocr/models/printed/ to ship it"
else
  echo "no TensorFlow here: run jobs/import_weights.py on $OUT/ft.weights.h5 where it is installed"
fi
