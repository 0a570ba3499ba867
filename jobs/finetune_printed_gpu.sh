#!/usr/bin/env bash
# Reproduces the GPU fine-tune of the shipped `printed` model (its card's `training`): fresh
# synthetic lines rendered by a process pool while jobs/train_printed_gpu.py (Keras on JAX) trains
# on them for a fixed wall-clock budget, starting from the CPU-trained model (card's
# `base_training`, jobs/train_printed.sh). Needs a CUDA machine with JAX, optax, OpenCV, Pillow,
# h5py and Keras 3, and the fonts of jobs/install_fonts.sh; TensorFlow is needed only for the last
# step (jobs/import_weights.py), which can run on any CPU machine.
#
#   START=work/runs/printed/export OUT=work/runs/printed_gpu bash jobs/finetune_printed_gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
START=${START:-batch_ocr/models/printed}   # the model to fine-tune (the CPU-trained one)
OUT=${OUT:-work/runs/printed_gpu}
SHARDS=${SHARDS:-/tmp/printed_gpu_shards}
SECONDS_BUDGET=${SECONDS_BUDGET:-450}
WORKERS=${WORKERS:-12}                     # renderer processes: leave a few cores to the trainer
mkdir -p "$OUT"
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1
python -m batch_ocr.train.prerender --out "$SHARDS" --split train --shards 40000 \
  --lines-per-shard 250 --seed 1001 --lowres 0.2 --workers "$WORKERS" > "$OUT/render.log" 2>&1 &
renderer=$!
trap 'kill $renderer 2>/dev/null || true' EXIT
python jobs/train_printed_gpu.py --shards "$SHARDS" --out "$OUT" --tag ft --seconds "$SECONDS_BUDGET" \
  --lr 4e-4 --warmup 0.1 --init-from "$START" | tee "$OUT/ft.log"
kill $renderer 2>/dev/null || true
if python -c "import tensorflow" 2>/dev/null; then
  KERAS_BACKEND=tensorflow python jobs/import_weights.py "$OUT/ft.weights.h5" --history "$OUT/ft.json" \
    --export "$OUT/export" --val synth:work/data/printed_val --val-count 500 \
    --data "synth:prerender --split train --seed 1001 --lowres 0.2 (rendered beside the trainer)"
  echo "copy $OUT/export/{model.keras,card.json} to batch_ocr/models/printed/ to ship it"
else
  echo "no TensorFlow here: run jobs/import_weights.py on $OUT/ft.weights.h5 where it is installed"
fi
