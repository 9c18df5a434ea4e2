"""Rate-distortion plots of results files (matplotlib, an optional dependency imported only here)."""
from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

from ..errors import MissingDependencyError
from ..image_io import atomic_write
from .bdrate import read_curve

AXIS_LABELS = {"psnr-rgb": "PSNR-RGB [dB]", "ms-ssim-rgb": "MS-SSIM-RGB [dB]  (-10 log10(1 - MS-SSIM))"}


def plot_rd(paths: Sequence[str | os.PathLike], output: str | os.PathLike, *, metric: str = "psnr-rgb",
            title: str | None = None, max_bpp: float | None = None) -> Path:
    """Draw one line per results file (quality against bpp) and save the figure atomically (format from the suffix).

    ``max_bpp`` cuts the x axis (the y axis then fits the points left in view).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingDependencyError("plotting needs matplotlib (pip install 'lic-zoo[bench]')") from None

    curves = [read_curve(p, metric) for p in paths]
    fig, ax = plt.subplots(figsize=(7, 5), dpi=120)
    try:
        for curve in curves:
            order = curve.bpp.argsort()
            if max_bpp is not None:
                order = order[curve.bpp[order] <= max_bpp]
            ax.plot(curve.bpp[order], curve.quality[order], marker="o", markersize=3, linewidth=1.2,
                    label=curve.name)
        ax.set_xlabel("Bit-rate [bpp]")
        ax.set_ylabel(AXIS_LABELS[metric])
        if title:
            ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small", loc="lower right")
        fig.tight_layout()
        output = Path(output)
        output.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        fig.savefig(buf, format=output.suffix.lstrip(".").lower() or None)
        atomic_write(output, buf.getvalue())
    finally:
        plt.close(fig)
    return output
