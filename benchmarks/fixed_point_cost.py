"""What the fixed-point context network costs in rate, and how much headroom its activation range has.

    python benchmarks/fixed_point_cost.py --weights lic_zoo/weights/msp-lite-mse-q3 [--weights DIR ...]
        [--images ../shared/data/eval-768x512] [--calibration ../shared/data/train] [--crops 64]

For every image: the estimated rate (sum of -log2 likelihoods, rounded latent, continuous scales) with the
float context network and with its fixed-point twin (what encoder and decoder really use), and the real file
size. Calibration: the largest |activation| of every context-network layer over random 256x256 training
crops, against the fixed-point limit (activations saturate at ACT_LIMIT / 2**ACT_FRAC_BITS); "headroom" is the
limit over the largest peak, log-scales excepted (the scale table clamps those to its range anyway).
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
from pathlib import Path

import torch

from lic_zoo.image_io import load_image
from lic_zoo.model.context import ACT_FRAC_BITS, ACT_LIMIT
from lic_zoo.model.transforms import pad_to_stride
from lic_zoo.zoo import load_local

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def estimated_bits(codec, x: torch.Tensor, exact: bool) -> float:
    y = codec.g_a(pad_to_stride(x[None])).to(torch.float64)
    context = codec.entropy.context.exact() if exact else copy.deepcopy(codec.entropy.context).double()
    _, likelihoods = codec.entropy(y, codec.coding_gains()[0], noise=False, context=context)
    return float(sum(-torch.log2(lik).sum() for lik in likelihoods))


def activation_peaks(codec, crops: list[torch.Tensor]) -> dict[str, float]:
    """Largest |output| of each context-network convolution over the crops (float network, rounded latent);
    the output layer is split into its means, log-scales and hidden state."""
    peaks: dict[str, float] = {}
    c = codec.profile.latent_channels
    parts = {"conv_out": {"conv_out (means)": slice(0, c), "conv_out (log-scales)": slice(c, 2 * c),
                          "conv_out (hidden)": slice(2 * c, None)}}

    def record(name: str, out: torch.Tensor) -> None:
        for label, channels in parts.get(name, {name: slice(None)}).items():
            peaks[label] = max(peaks.get(label, 0.0), out[:, channels].abs().max().item())

    hooks = [m.register_forward_hook(lambda mod, inp, out, name=name: record(name, out))
             for name, m in codec.entropy.context.named_modules() if isinstance(m, torch.nn.Conv2d)]
    try:
        for crop in crops:
            codec(crop[None], noise=False)
    finally:
        for h in hooks:
            h.remove()
    return peaks


def random_crops(folder: Path, count: int, size: int = 256, seed: int = 0) -> list[torch.Tensor]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg"})
    gen = torch.Generator().manual_seed(seed)
    crops = []
    for i in range(count):
        x, _ = load_image(files[i % len(files)])
        top = int(torch.randint(0, x.shape[1] - size + 1, (1,), generator=gen))
        left = int(torch.randint(0, x.shape[2] - size + 1, (1,), generator=gen))
        crops.append(x[:, top : top + size, left : left + size])
    return crops


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, action="append", required=True)
    parser.add_argument("--images", type=Path, default=DATA / "eval-768x512")
    parser.add_argument("--calibration", type=Path, default=DATA / "train")
    parser.add_argument("--crops", type=int, default=64)
    args = parser.parse_args()
    images = sorted(p for p in args.images.iterdir() if p.suffix.lower() == ".png")
    crops = random_crops(args.calibration, args.crops)
    limit = ACT_LIMIT / (1 << ACT_FRAC_BITS)
    report = []
    for folder in args.weights:
        codec = load_local(folder)
        rows = []
        for path in images:
            x, _ = load_image(path)
            pixels = x.shape[1] * x.shape[2]
            float_bits, exact_bits = estimated_bits(codec, x, False), estimated_bits(codec, x, True)
            file_bits = 8 * len(codec.compress(x, lof_steps=0))
            rows.append({"image": path.name, "float_bpp": float_bits / pixels, "fixed_bpp": exact_bits / pixels,
                         "file_bpp": file_bits / pixels, "fixed_vs_float_pct": 100 * (exact_bits / float_bits - 1),
                         "file_vs_fixed_pct": 100 * (file_bits / exact_bits - 1)})
        peaks = activation_peaks(codec, crops)
        report.append({
            "weights": str(folder), "model": f"{codec.model_name} q{codec.quality}", "images": len(rows),
            "median_fixed_vs_float_pct": statistics.median(r["fixed_vs_float_pct"] for r in rows),
            "max_fixed_vs_float_pct": max(r["fixed_vs_float_pct"] for r in rows),
            "total_fixed_vs_float_pct":
                100 * (sum(r["fixed_bpp"] for r in rows) / sum(r["float_bpp"] for r in rows) - 1),
            "median_file_vs_fixed_pct": statistics.median(r["file_vs_fixed_pct"] for r in rows),
            "calibration_crops": len(crops), "activation_limit": limit,
            # log-scales beyond the limit are harmless: the scale table clamps them to its range anyway
            "peak_activation": peaks, "headroom": limit / max(v for k, v in peaks.items() if "log-scales" not in k),
            "per_image": rows,
        })
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
