"""Latent overfitting gain: real bpp, PSNR, RD cost and encode time per LOF budget, on a folder of images.

    python benchmarks/lof_gain.py --weights lic_zoo/weights/msp-lite-mse-q3 \
        --images ../shared/data/eval-768x512 --steps 0 25 50 100 --lr 0.01

Every stream is real (whole file counted) and decoded back; the table gives means over the images and, per
budget, the median encode time. The RD cost is bpp + lambda * 255^2 * MSE on the 8-bit output, the quantity
LOF minimises.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from lic_zoo.image_io import load_image, to_uint8
from lic_zoo.zoo import load_local


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--steps", type=int, nargs="+", default=[0, 25, 50, 100])
    parser.add_argument("--lr", type=float, nargs="+", default=[0.01])
    parser.add_argument("--limit", type=int, default=0, help="use only the first N images")
    args = parser.parse_args()

    codec = load_local(args.weights)
    files = sorted(p for p in args.images.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg", ".webp"})
    files = files[: args.limit] if args.limit else files
    images = [load_image(p)[0] for p in files]
    print(f"{codec.model_name} q{codec.quality} (lambda {codec.lmbda}), {len(images)} images from {args.images}")
    print("| LOF steps | lr | bpp | PSNR dB | RD cost | rate change | encode s (median) |")
    print("|---|---|---|---|---|---|---|")
    baseline = None
    for lr in args.lr:
        for steps in args.steps:
            bpps, psnrs, costs, times = [], [], [], []
            for x in images:
                start = time.perf_counter()
                result = codec.encode(x, lof_steps=steps, lof_lr=lr)
                times.append(time.perf_counter() - start)
                assert torch.equal(codec.decompress(result.data), result.x_hat)
                h, w = x.shape[-2:]
                mse = (to_uint8(result.x_hat).float() / 255 - x).pow(2).mean().item()
                bpp = 8 * len(result.data) / (h * w)
                bpps.append(bpp)
                psnrs.append(10 * torch.log10(torch.tensor(1 / mse)).item())
                costs.append(bpp + codec.lmbda * 255**2 * mse)
            bpp, psnr, cost = (statistics.mean(v) for v in (bpps, psnrs, costs))
            if baseline is None:
                baseline = bpp
            print(f"| {steps} | {lr:g} | {bpp:.4f} | {psnr:.2f} | {cost:.4f} | {100 * (bpp / baseline - 1):+.2f} % "
                  f"| {statistics.median(times):.1f} |", flush=True)


if __name__ == "__main__":
    main()
