#!/usr/bin/env bash
# Reproduces batch_ocr/models/digits: the SRN on handwritten MNIST digit strings (1-10 characters,
# separators " -/." included), composed on the fly from the train split of
# batch_ocr/train/data/mnist_digits.npz; validated on strings from the val split.
# Resumable: rerun the same command after any stop. ~50 minutes on 2 idle CPU cores.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${RUN:-work/runs/digits}
# Two phases, as the shipped model was trained: 5 000 steps at a peak LR of 1e-3, then the same
# run resumed (weights and optimizer state) on a cosine schedule towards 12 000 at a peak of 5e-4
# for 23 minutes (it stopped at step 11 425; the export keeps the best validation CER).
train() {  # train STEPS LR [extra options]
  batch-ocr train --run-dir "$RUN" --data digits:train --val digits:val --val-count 500 \
    --export "$RUN/export" --name digits --charset digits --height 32 \
    --steps "$1" --lr "$2" --warmup-steps 300 --max-chars 10 --eval-every 500 --seed 0 "${@:3}" \
    --describe "handwritten digit strings of 1-10 characters (separators ' -/.' included) composed on the fly from the 7001 train-split MNIST digits of batch_ocr/train/data/mnist_digits.npz with scan-like degradations; validation: 500 strings from the val split. Steps 0-5000 at peak LR 1e-3, resumed to 12000 with a cosine schedule at peak 5e-4"
}
train 5000 1e-3
train 12000 5e-4 --max-minutes 23
# Held-out figures: strings of 3-8 digits composed only from the test split (never trained on).
python -c "from batch_ocr.train.digits import make_eval_set; make_eval_set('$RUN/test_set', split='test', n=1000)"
batch-ocr eval "$RUN/test_set/labels.csv" --model "$RUN/export" --segment line -o "$RUN/test_eval.json" \
  --record-as test_3to8 --data-note "1000 strings of 3-8 digits composed only from the MNIST test split"
echo "copy $RUN/export/{model.keras,card.json} to batch_ocr/models/digits/ to ship it"
