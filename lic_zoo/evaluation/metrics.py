"""Distortion metrics on 8-bit RGB images (arrays of shape (H, W, 3), dtype uint8).

- PSNR-RGB: ``10 log10(255^2 / MSE)`` with the MSE over all samples of the three channels, per image.
- MS-SSIM-RGB: torchmetrics' multi-scale SSIM (5 scales, 11x11 Gaussian window, sigma 1.5, ReLU-clamped
  terms) on float32 tensors of the 8-bit images with ``data_range=255`` (float64 agrees to about 1e-6 and is
  ten times slower on CPU). It needs both sides to be at least
  :data:`MS_SSIM_MIN_SIDE` pixels (the window must still fit at the coarsest of the five scales); for a smaller
  image :func:`ms_ssim_rgb` returns NaN rather than a number computed on fewer scales, which would not be
  comparable with anyone else's MS-SSIM.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import MissingDependencyError, UnsupportedInputError

# The one minimum side of MS-SSIM in lic_zoo (evaluation and training validation). torchmetrics checks
# side // 2 ** (2 * (scales - 1)) > kernel_size - 1, i.e. side // 16 > 10 for 5 scales and an 11-px window, so
# side >= 176. Its error message says "larger than 160", but sides 161..175 fail the same check.
MS_SSIM_MIN_SIDE = 176


def _check_pair(x: np.ndarray, ref: np.ndarray) -> None:
    if x.shape != ref.shape or x.ndim != 3 or x.shape[2] != 3:
        raise UnsupportedInputError(f"metrics need two (H, W, 3) images of one size, got {x.shape} and {ref.shape}")
    if x.dtype != np.uint8 or ref.dtype != np.uint8:
        raise UnsupportedInputError(f"metrics need 8-bit images, got {x.dtype} and {ref.dtype}")


def psnr_rgb(x: np.ndarray, ref: np.ndarray) -> float:
    """PSNR in dB of 8-bit RGB ``x`` against ``ref`` (peak 255); ``inf`` when they are identical."""
    _check_pair(x, ref)
    mse = float(np.mean((x.astype(np.float64) - ref.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def ms_ssim_rgb(x: np.ndarray, ref: np.ndarray) -> float:
    """MS-SSIM of 8-bit RGB ``x`` against ``ref`` (1 = identical); NaN below :data:`MS_SSIM_MIN_SIDE` pixels."""
    try:
        from torchmetrics.functional.image import multiscale_structural_similarity_index_measure
    except ImportError:
        raise MissingDependencyError("MS-SSIM needs torchmetrics (pip install 'lic-zoo[bench]')") from None

    _check_pair(x, ref)
    if min(x.shape[:2]) < MS_SSIM_MIN_SIDE:
        return math.nan

    def as_tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a.astype(np.float32)).permute(2, 0, 1).unsqueeze(0)

    value = multiscale_structural_similarity_index_measure(as_tensor(x), as_tensor(ref), data_range=255.0)
    return float(value)


def ms_ssim_db(value: float) -> float:
    """MS-SSIM in decibels, ``-10 log10(1 - value)``, the usual scale for plots and BD-rate."""
    return math.inf if value >= 1.0 else -10.0 * math.log10(1.0 - value)
