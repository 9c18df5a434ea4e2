"""Plot a training run's curves from its Lightning CSV log.

    python benchmarks/plot_training.py runs/msp-lite-mse-q3/lightning_logs/version_0/metrics.csv -o curve.png

Several files (stages of one training, e.g. a run and its continuation) are joined: each continues at the step
the previous one ended.

Left: training RD loss (moving average over 50 logged steps) and validation RD loss. Right: validation PSNR
and bpp (estimated and real bitstream).
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np


def read(paths: list[Path]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    series: dict[str, list[tuple[float, float]]] = {}
    offset = 0.0
    for path in paths:
        last = 0.0
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                step = float(row["step"]) + offset
                last = max(last, step)
                for key, value in row.items():
                    if key not in ("epoch", "step") and value:
                        series.setdefault(key, []).append((step, float(value)))
        offset = last + 1
    return {k: tuple(np.array(v).T) for k, v in series.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("metrics", type=Path, nargs="+")
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--title", default="")
    args = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = read(args.metrics)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    steps, loss = s["train/loss"]
    window = min(50, len(loss))
    left.plot(steps[window - 1:], np.convolve(loss, np.ones(window) / window, "valid"), label="train (moving avg)")
    left.plot(*s["val/loss"], "o-", label="validation")
    left.set(xlabel="step", ylabel="RD loss (bpp + lambda 255^2 MSE)", yscale="log", title=args.title)
    left.legend()
    right.plot(*s["val/psnr"], "o-", color="C2", label="val PSNR")
    right.set(xlabel="step", ylabel="PSNR-RGB (dB)")
    twin = right.twinx()
    twin.plot(*s["val/bpp"], "s--", color="C3", label="val bpp (estimated)")
    if "val/real_bpp" in s:
        twin.plot(*s["val/real_bpp"], "x:", color="C4", label="val bpp (real file)")
    twin.set_ylabel("bpp")
    lines = right.get_lines() + twin.get_lines()
    right.legend(lines, [line.get_label() for line in lines], loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(args.output, dpi=110)


if __name__ == "__main__":
    main()
