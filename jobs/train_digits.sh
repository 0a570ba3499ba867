#!/usr/bin/env bash
# Reproduces batch_ocr/models/digits: the SRN on handwritten MNIST digit strings (1-10 characters,
# separators " -/." included), composed on the fly from the train split of
# batch_ocr/train/data/mnist_digits.npz; validated on strings from the val split.
# Resumable: rerun the same command after any stop. ~25 minutes on 2 idle CPU cores.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${RUN:-work/runs/digits}
batch-ocr train --run-dir "$RUN" --data digits:train --val digits:val --val-count 500 \
  --export "$RUN/export" --name digits --charset digits --height 32 \
  --steps 5000 --warmup-steps 300 --max-chars 10 --eval-every 500 --seed 0 \
  --describe "handwritten digit strings of 1-10 characters (separators ' -/.' included) composed on the fly from the 7001 train-split MNIST digits of batch_ocr/train/data/mnist_digits.npz with scan-like degradations; validation: 500 strings from the val split"
# Held-out figures: strings of 3-8 digits composed only from the test split (never trained on).
python -c "from batch_ocr.train.digits import make_eval_set; make_eval_set('$RUN/test_set', split='test', n=1000)"
batch-ocr eval "$RUN/test_set/labels.csv" --model "$RUN/export" --segment line -o "$RUN/test_eval.json" \
  --record-as test_3to8 --data-note "1000 strings of 3-8 digits composed only from the MNIST test split"
echo "copy $RUN/export/{model.keras,card.json} to batch_ocr/models/digits/ to ship it"
