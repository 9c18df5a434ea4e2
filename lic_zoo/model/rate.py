"""Variable rate: the quality grid, lambda per quality, and gain units (Cui et al., CVPR 2021).

A variable-rate codec serves a range of qualities with one network. Each integer quality of its ladder owns a
learned per-channel gain, applied to the latent after the analysis transform (the quantisation step becomes
``1 / gain``), and an inverse gain applied before synthesis. A quality between two integers interpolates both
geometrically: ``log gain = (1 - t) log gain_i + t log gain_{i+1}``. Integer qualities keep their lambdas
(:data:`LAMBDAS`); lambda is interpolated the same way.

Qualities are multiples of ``1 / QUALITY_UNITS``, which is what a stream header records, so a decoder rebuilds
the coding-time gains bit for bit: :meth:`GainUnits.coding_gains` uses only IEEE basic arithmetic and
:func:`~lic_zoo.model.entropy_models.portable_exp`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import UnknownModelError
from .context import ACT_FRAC_BITS
from .entropy_models import portable_exp

QUALITY_UNITS = 1000  # qualities are stored as integers in units of 1/1000
GAIN_REFERENCE_QUALITY = 3  # gains start at 1 here (where fixed-rate msp-lite weights come from)

# Rate-distortion trade-off per integer quality. MSE: loss = R + lambda * 255^2 * MSE;
# MS-SSIM: loss = R + lambda * (1 - MS-SSIM). Qualities 1-8 are CompressAI's ladders, so curves are comparable;
# qualities 0 and 9 extend the MSE ladder down (0.39x quality 1's lambda: half of it left the default's curve at
# 0.13 bpp without LOF) and one step up (2.33x quality 8: the ladder's mean step, 1.94x, left the default's top at
# 0.9995 bpp without LOF), so that one codec spans 0.12 to 1.0 bpp and more. Lambdas only steer training and the gains' initial spread; decoding never reads them.
LAMBDAS: dict[str, dict[int, float]] = {
    "mse": {0: 0.0007, 1: 0.0018, 2: 0.0035, 3: 0.0067, 4: 0.013, 5: 0.025, 6: 0.0483, 7: 0.0932, 8: 0.18, 9: 0.42},
    "ms-ssim": {1: 2.40, 2: 4.58, 3: 8.73, 4: 16.64, 5: 31.73, 6: 60.50, 7: 115.37, 8: 220.0},
}


def quality_units(quality: float) -> int:
    """``quality`` on the stored grid, as an integer number of 1/1000 steps."""
    if isinstance(quality, bool) or not isinstance(quality, (int, float)) or not math.isfinite(quality):
        raise UnknownModelError(f"quality must be a number, not {quality!r}")
    return round(quality * QUALITY_UNITS)


def quality_from_units(units: int) -> float:
    """The quality of ``units`` 1/1000 steps (an int when it is an integer quality)."""
    return units // QUALITY_UNITS if units % QUALITY_UNITS == 0 else units / QUALITY_UNITS


def snap_quality(quality: float) -> float:
    """The quality a stream records for ``quality``: the nearest multiple of 1/1000 (integers stay integers)."""
    return quality_from_units(quality_units(quality))


def lambda_for(metric: str, quality: float) -> float:
    """Lambda of a (possibly fractional) quality: geometric interpolation of the metric's ladder."""
    try:
        ladder = LAMBDAS[metric]
    except KeyError:
        raise UnknownModelError(f"unknown metric {metric!r}; choose from {', '.join(LAMBDAS)}") from None
    low, high = min(ladder), max(ladder)
    if not low <= quality <= high:
        raise UnknownModelError(f"quality {quality} is outside {metric}'s ladder {low}..{high}")
    if quality == int(quality):
        return ladder[int(quality)]  # integer qualities keep their ladder value exactly
    i = math.floor(quality)
    t = quality - i
    return math.exp((1 - t) * math.log(ladder[i]) + t * math.log(ladder[i + 1]))


@dataclass(frozen=True)
class CodingGains:
    """Coding-time gains of one quality, in float64: bit-identical wherever they are computed."""

    log_gain: Tensor  # (C,)
    gain: Tensor  # (C,)
    inverse_gain: Tensor  # (C,)
    feature: float  # the quality's position in the ladder, 0..1, on the context network's activation grid


class GainUnits(nn.Module):
    """Per-quality gain and inverse-gain vectors over an integer ladder ``first..last``.

    Initialised so that the quantisation step scales like ``lambda ** -1/2`` around ``reference`` (an MSE-optimal
    uniform quantiser's step), which lets a fixed-rate network warm-start into a spread of rates.
    """

    def __init__(self, first: int, last: int, channels: int, lambdas: dict[int, float],
                 reference: int = GAIN_REFERENCE_QUALITY) -> None:
        super().__init__()
        if last <= first:
            raise ValueError("a variable-rate ladder needs at least two qualities")
        self.first, self.last, self.reference = first, last, reference
        init = torch.tensor([0.5 * math.log(lambdas[q] / lambdas[reference]) for q in range(first, last + 1)])
        self.log_gain = nn.Parameter(init[:, None].repeat(1, channels))
        self.log_inverse_gain = nn.Parameter(-init[:, None].repeat(1, channels))

    def freeze_reference_gradient(self) -> None:
        """Zero the gradient of the reference quality's gain and inverse gain (call after backward).

        The transforms and the gains share one degree of freedom per channel: scaling the latent up and every gain
        down codes the same thing. Holding one quality's gains fixed takes it away, so the networks' scale is
        pinned and the other qualities' gains are measured against it.
        """
        row = self.reference - self.first
        for table in (self.log_gain, self.log_inverse_gain):
            if table.grad is not None:
                table.grad[row] = 0

    def _position(self, quality: Tensor) -> tuple[Tensor, Tensor]:
        index = torch.clamp(torch.floor(quality), self.first, self.last - 1)
        return (index - self.first).long(), (quality - index)[:, None]

    def forward(self, quality: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(B,) qualities -> log gains (B, C), log inverse gains (B, C) and the ladder position (B,), differentiable."""
        index, t = self._position(quality.float())
        log_gain = (1 - t) * self.log_gain[index] + t * self.log_gain[index + 1]
        log_inverse = (1 - t) * self.log_inverse_gain[index] + t * self.log_inverse_gain[index + 1]
        return log_gain, log_inverse, self.feature(quality.float())

    def feature(self, quality: Tensor) -> Tensor:
        """The context network's quality input: position in the ladder, 0 (first) to 1 (last)."""
        return (quality - self.first) / (self.last - self.first)

    @torch.no_grad()
    def coding_gains(self, quality: float) -> CodingGains:
        """Gains of ``quality`` (on the 1/1000 grid) from basic float64 arithmetic and a portable exp."""
        units = quality_units(quality)
        index = min(units // QUALITY_UNITS, self.last - 1)
        t = (units - index * QUALITY_UNITS) / QUALITY_UNITS
        row = index - self.first

        def interpolate(table: Tensor) -> np.ndarray:
            a, b = table[row].detach().cpu().double().numpy(), table[row + 1].detach().cpu().double().numpy()
            return a + t * (b - a)

        log_gain = interpolate(self.log_gain)
        scale = float(1 << ACT_FRAC_BITS)
        feature = round((units - self.first * QUALITY_UNITS) / ((self.last - self.first) * QUALITY_UNITS) * scale)
        return CodingGains(torch.from_numpy(log_gain), torch.from_numpy(portable_exp(log_gain)),
                           torch.from_numpy(portable_exp(interpolate(self.log_inverse_gain))), feature / scale)
