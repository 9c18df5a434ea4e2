"""Encode/decode time and sequential steps of every profile on the 2K timing image.

    python benchmarks/codec_speed.py [--image ../shared/data/speed-2k/speed01-2048x1152.png] [--repeats 3]

Prints one row per profile: median encode and decode seconds over the repeats, bytes, bpp, the number of
sequential context-network calls, and peak resident memory. Codecs are freshly initialised unless
``--weights DIR`` names an exported checkpoint (speed barely depends on the weights: the entropy coder's
share grows with the bit rate).
"""
from __future__ import annotations

import argparse
import platform
import resource
import statistics
import time
from pathlib import Path

import torch

from lic_zoo import MSPCodec, PROFILES
from lic_zoo.image_io import load_image
from lic_zoo.zoo import load_local

DEFAULT_IMAGE = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "speed-2k" / "speed01-2048x1152.png"


def timed(fn, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--profiles", nargs="+", default=list(PROFILES))
    parser.add_argument("--weights", type=Path, help="exported checkpoint folder (overrides --profiles)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    image, _ = load_image(args.image)
    h, w = image.shape[-2:]
    print(f"image {args.image.name} {w}x{h}; torch {torch.__version__}, {args.threads} threads, "
          f"{platform.processor() or platform.machine()}")
    print(f"{'profile':<8} {'encode s':>9} {'decode s':>9} {'bytes':>9} {'bpp':>7} {'seq. calls':>10} {'peak RSS MB':>11}")
    codecs = [load_local(args.weights)] if args.weights else [MSPCodec(p).eval() for p in args.profiles]
    for codec in codecs:
        torch.manual_seed(0)
        codec.decompress(codec.compress(image[:, :64, :64]))  # warm-up
        enc, data = timed(lambda: codec.compress(image), args.repeats)
        dec, _ = timed(lambda: codec.decompress(data), args.repeats)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{codec.profile.name:<8} {enc:>9.2f} {dec:>9.2f} {len(data):>9} {8 * len(data) / (h * w):>7.3f} "
              f"{codec.sequential_steps:>10} {peak:>11.0f}")


if __name__ == "__main__":
    main()
