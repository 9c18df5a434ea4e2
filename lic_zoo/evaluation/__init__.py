"""Evaluation: run codecs over image folders, compare rate-distortion curves (BD-rate) and plot them.

- :mod:`.metrics`: PSNR-RGB and MS-SSIM-RGB on 8-bit images.
- :mod:`.classic`: classic codecs (JPEG, WebP, JPEG 2000, AVIF, JPEG XL, HEIC, VVC) behind one interface.
- :mod:`.runner`: real encode/decode over a folder, CompressAI-shaped results JSON.
- :mod:`.bdrate`: Bjøntegaard delta rate, cubic and piecewise-cubic.
- :mod:`.plot`: RD curves (needs matplotlib).
"""
from .bdrate import Curve, bd_rate, bd_rate_curves, read_curve
from .classic import CODECS, ClassicCodec
from .metrics import ms_ssim_rgb, psnr_rgb
from .runner import ZooCodec, evaluate, list_images, run

__all__ = [
    "CODECS", "ClassicCodec", "Curve", "ZooCodec", "bd_rate", "bd_rate_curves", "evaluate", "list_images",
    "ms_ssim_rgb", "psnr_rgb", "read_curve", "run",
]
