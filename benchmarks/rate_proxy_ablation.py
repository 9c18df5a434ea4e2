"""Which rate proxy, and which parameters, move a variable-rate codec's rate? A short training probe.

From the given weights, trains ``--steps`` steps of the variable-rate training objective (a quality per crop,
uniform over the range, the recipe's per-quality loss weights; batch 8 of 128x128 crops of the training photos,
the four held-out ones excluded) with one subset of the parameters trainable and the rate estimated either with
additive noise or on the rounded residuals the coder codes. Before and after, it prints the coded rate (eval-mode
estimate, which the real bitstreams match) and PSNR at qualities 0, 4 and 8 on 24 fixed 256x256 crops.

    OMP_NUM_THREADS=1 python benchmarks/rate_proxy_ablation.py --subset all --proxy noise
    OMP_NUM_THREADS=1 python benchmarks/rate_proxy_ablation.py --subset context --proxy noise
    OMP_NUM_THREADS=1 python benchmarks/rate_proxy_ablation.py --subset all --proxy round

Session 7's figures: docs/training/msp-lite-variable.md.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from lic_zoo.training import MSPLightningModule
from lic_zoo.training.export import load_into_codec
from lic_zoo.zoo.weights_source import resolve_weights

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "train"
WARM_START = ROOT / "docs" / "training" / "warm-start" / "msp-lite-mse-variable"
SUBSETS = {
    "all": lambda name: "quantiles" not in name,
    "g_a": lambda name: name.startswith("g_a."),
    "g_s": lambda name: name.startswith("g_s."),
    "context": lambda name: name.startswith("entropy.context."),
}


def load_photos(folder: Path) -> list[torch.Tensor]:
    paths = sorted(folder.glob("*.png"))[:-4]  # the recipes hold out the last four for validation
    return [torch.from_numpy(np.asarray(Image.open(p).convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)
            for p in paths]


def crops(photos: list[torch.Tensor], rng: np.random.Generator, count: int, size: int) -> torch.Tensor:
    out = []
    for _ in range(count):
        x = photos[rng.integers(len(photos))]
        top, left = rng.integers(0, x.shape[1] - size + 1), rng.integers(0, x.shape[2] - size + 1)
        out.append(x[:, top : top + size, left : left + size])
    return torch.stack(out)


@torch.no_grad()
def coded_points(module: MSPLightningModule, batch: torch.Tensor) -> str:
    """Eval-mode (rounded) bpp / PSNR at qualities 0, 4 and 8."""
    module.codec.eval()
    points = []
    for quality in (0, 4, 8):
        out = module.codec(batch, quality=torch.full((batch.shape[0],), float(quality)))
        bpp = out.bits.mean().item() / (batch.shape[-2] * batch.shape[-1])
        psnr = -10 * torch.log10(torch.mean((out.x_hat.clamp(0, 1) - batch) ** 2)).item()
        points.append(f"q{quality} {bpp:.3f} bpp / {psnr:.2f} dB")
    return ", ".join(points)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default=str(WARM_START), help="variable-rate weights (lic_zoo.weights_source)")
    parser.add_argument("--subset", choices=SUBSETS, default="all", help="parameters trained")
    parser.add_argument("--proxy", choices=("noise", "round"), default="noise", help="training rate proxy")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--lr", type=float, default=3e-5)
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    torch.manual_seed(0)
    photos = load_photos(args.data)
    probe = crops(photos, np.random.default_rng(123), 24, 256)
    module = MSPLightningModule(qualities=(0, 8))
    load_into_codec(module.codec, *resolve_weights(args.weights), source=args.weights)
    print(f"start: {coded_points(module, probe)}", flush=True)
    params = [p for name, p in module.codec.named_parameters() if SUBSETS[args.subset](name)]
    optimizer = torch.optim.Adam(params, lr=args.lr)
    rng = np.random.default_rng(0)
    module.codec.train()
    for _ in range(args.steps):
        x = crops(photos, rng, 8, 128)
        quality = module.sample_qualities(8)
        loss = module.rd_loss(module.codec(x, quality=quality, noise=args.proxy == "noise"), x, quality)["loss"]
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
    print(f"after {args.steps} steps ({args.subset}, {args.proxy}, lr {args.lr:g}): {coded_points(module, probe)}")


if __name__ == "__main__":
    main()
