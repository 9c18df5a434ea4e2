"""Plot the learning curve of the shipped msp-lite: dev-set BD-rate against training pixels seen.

Reads ``docs/training/learning-curve.csv`` (one row per evaluated checkpoint: label, training pixels behind it,
BD-rate vs WebP and vs the release of the time, PSNR-RGB pchip, no LOF) and writes
``docs/training/learning-curve.png``. Rows are appended by hand after each session's evaluation
(``lic-zoo bdrate``; ``docs/training/msp-lite-variable.md``).

    python benchmarks/learning_curve.py
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

DOCS = Path(__file__).resolve().parents[1] / "docs" / "training"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", type=Path, default=DOCS / "learning-curve.csv")
    parser.add_argument("-o", "--output", type=Path, default=DOCS / "learning-curve.png")
    args = parser.parse_args()
    with open(args.table, newline="") as f:
        rows = list(csv.DictReader(f))
    fig, ax = plt.subplots(figsize=(7, 4))
    for family in dict.fromkeys(row["family"] for row in rows):
        points = [row for row in rows if row["family"] == family]
        pixels = [float(row["training_pixels"]) / 1e9 for row in points]
        ax.plot(pixels, [float(row["bd_rate_vs_webp"]) for row in points], "o-", label=family)
        for x, row in zip(pixels, points):
            ax.annotate(row["label"], (x, float(row["bd_rate_vs_webp"])), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("training pixels behind the checkpoint (billions)")
    ax.set_ylabel("dev-set BD-rate vs WebP (%), no LOF")
    ax.set_title("msp-lite learning curve (eval-768x512, PSNR-RGB, pchip)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.output, dpi=120)
    print(args.output)


if __name__ == "__main__":
    main()
