"""Natural images for the real-model benchmark, from photos that ship inside installed packages
(scikit-learn's china.jpg and flower.jpg, matplotlib's grace_hopper.jpg): random crops, flips
and rescalings, resized to a square. No download.

    python benchmarks/real_images.py OUT.npz [--size 224] [--calib 64] [--eval 32]

writes ``calib`` and ``eval`` arrays of uint8-valued float32 RGB images, (N, size, size, 3).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def photos() -> list[np.ndarray]:
    import matplotlib
    import sklearn.datasets
    from PIL import Image

    folders = [Path(sklearn.datasets.__file__).parent / "images", Path(matplotlib.get_data_path()) / "sample_data"]
    files = [folders[0] / "china.jpg", folders[0] / "flower.jpg", folders[1] / "grace_hopper.jpg"]
    return [np.asarray(Image.open(f).convert("RGB")) for f in files]


def crops(count: int, size: int, seed: int) -> np.ndarray:
    """``count`` random crops (a quarter to all of the shorter side), flipped at random, resized."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    sources = photos()
    out = np.empty((count, size, size, 3), np.float32)
    for k in range(count):
        image = sources[k % len(sources)]
        h, w, _ = image.shape
        side = int(min(h, w) * rng.uniform(0.25, 1.0))
        top, left = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        patch = image[top : top + side, left : left + side]
        if rng.random() < 0.5:
            patch = patch[:, ::-1]
        out[k] = np.asarray(Image.fromarray(np.ascontiguousarray(patch)).resize((size, size), Image.BILINEAR), np.float32)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--calib", type=int, default=64)
    parser.add_argument("--eval", type=int, default=32)
    args = parser.parse_args()
    np.savez(args.out, calib=crops(args.calib, args.size, 0), eval=crops(args.eval, args.size, 1))


if __name__ == "__main__":
    main()
