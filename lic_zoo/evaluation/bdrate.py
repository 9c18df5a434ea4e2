"""Bjøntegaard delta rate (BD-rate) between two rate-distortion curves, and reading curves from results files.

The log of the rate is modelled as a function of the quality (PSNR in dB, or MS-SSIM in dB) on each curve,
integrated over the quality interval both curves cover, and the mean difference is turned back into a
relative rate: ``BD-rate = exp(mean(ln R_test - ln R_anchor)) - 1``, in percent, negative when the test codec
needs fewer bits for the same quality. Two models of ``ln R(quality)``:

- ``"cubic"``: one least-squares cubic polynomial per curve (Bjøntegaard, VCEG-M33);
- ``"pchip"``: piecewise-cubic Hermite interpolation through the points with Fritsch-Carlson slopes (the
  variant of VCEG-AL22 and of the JVET/HEVC common-test-condition sheets), integrated exactly piece by piece.
  It follows the points more closely and does not oscillate.
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..errors import InvalidCurveError
from .metrics import ms_ssim_db

Method = Literal["cubic", "pchip"]
METHODS: tuple[Method, ...] = ("cubic", "pchip")
METRICS = ("psnr-rgb", "ms-ssim-rgb")


@dataclass(frozen=True)
class Curve:
    """One codec's rate-distortion points: rate in bpp and quality in dB, in matching order."""

    name: str
    bpp: np.ndarray
    quality: np.ndarray


def read_curve(path: str | os.PathLike, metric: str = "psnr-rgb") -> Curve:
    """Read a CompressAI-shaped results JSON; ``ms-ssim-rgb`` is returned in dB (``-10 log10(1 - MS-SSIM)``).

    Files that only carry ``ms-ssim-db-rgb`` (some published results) are read too.
    """
    if metric not in METRICS:
        raise InvalidCurveError(f"unknown metric {metric!r}; choose from {', '.join(METRICS)}")
    with open(path, encoding="utf-8") as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as exc:
            raise InvalidCurveError(f"{path}: not JSON ({exc})") from None
    results = data.get("results") if isinstance(data, dict) else None
    if results is None and isinstance(data, dict) and "records" in data:
        raise InvalidCurveError(f"{path}: holds per-image records, not a results summary")
    if not isinstance(results, dict) or "bpp" not in results:
        raise InvalidCurveError(f"{path}: not a results file (no results.bpp)")
    if metric in results:
        values = results[metric]
        convert = ms_ssim_db if metric == "ms-ssim-rgb" else float
    elif metric == "ms-ssim-rgb" and "ms-ssim-db-rgb" in results:
        values, convert = results["ms-ssim-db-rgb"], float
    else:
        raise InvalidCurveError(f"{path}: has no {metric} values")
    if len(values) != len(results["bpp"]) or any(v is None for v in [*values, *results["bpp"]]):
        raise InvalidCurveError(f"{path}: {metric} values are missing for some points")
    name = str(data.get("name") or os.path.splitext(os.path.basename(path))[0])
    return Curve(name, np.asarray(results["bpp"], dtype=np.float64), np.array([convert(v) for v in values]))


def _prepare(rate: Sequence[float], quality: Sequence[float], min_points: int) -> tuple[np.ndarray, np.ndarray]:
    """(quality, ln rate) sorted by quality; checks the curve can be modelled."""
    rate, quality = np.asarray(rate, dtype=np.float64), np.asarray(quality, dtype=np.float64)
    if rate.ndim != 1 or rate.shape != quality.shape:
        raise InvalidCurveError(f"rate and quality must be 1-D and of one length, got {rate.shape}, {quality.shape}")
    if len(rate) < min_points:
        raise InvalidCurveError(f"a curve needs at least {min_points} points, got {len(rate)}")
    if not (np.all(np.isfinite(rate)) and np.all(np.isfinite(quality)) and np.all(rate > 0)):
        raise InvalidCurveError("rates must be positive and finite, qualities finite")
    order = np.argsort(quality)
    quality, log_rate = quality[order], np.log(rate[order])
    if np.any(np.diff(quality) <= 0):
        raise InvalidCurveError("two points of one curve have the same quality")
    return quality, log_rate


def _pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Fritsch-Carlson derivatives at the knots (as SciPy's ``PchipInterpolator``)."""
    h = np.diff(x)
    m = np.diff(y) / h
    if len(x) == 2:
        return np.array([m[0], m[0]])
    d = np.zeros_like(x)
    w1, w2 = 2 * h[1:] + h[:-1], h[1:] + 2 * h[:-1]
    same_sign = m[:-1] * m[1:] > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        harmonic = (w1 + w2) / (w1 / m[:-1] + w2 / m[1:])
    d[1:-1] = np.where(same_sign, harmonic, 0.0)

    def edge(h0: float, h1: float, m0: float, m1: float) -> float:
        slope = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
        if np.sign(slope) != np.sign(m0):
            return 0.0
        if np.sign(m0) != np.sign(m1) and abs(slope) > 3 * abs(m0):
            return 3 * m0
        return slope

    d[0] = edge(h[0], h[1], m[0], m[1])
    d[-1] = edge(h[-1], h[-2], m[-1], m[-2])
    return d


def _pchip_integral(x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float:
    """Exact integral over [lo, hi] (inside [x[0], x[-1]]) of the PCHIP interpolant through (x, y)."""
    d = _pchip_slopes(x, y)
    total = 0.0
    for k in range(len(x) - 1):
        a, b = max(lo, x[k]), min(hi, x[k + 1])
        if a >= b:
            continue
        h = x[k + 1] - x[k]
        m = (y[k + 1] - y[k]) / h
        c2 = (3 * m - 2 * d[k] - d[k + 1]) / h
        c3 = (d[k] + d[k + 1] - 2 * m) / h**2

        def antiderivative(t: float) -> float:
            return y[k] * t + d[k] * t**2 / 2 + c2 * t**3 / 3 + c3 * t**4 / 4

        total += antiderivative(b - x[k]) - antiderivative(a - x[k])
    return total


def _cubic_integral(x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float:
    antiderivative = np.polyint(np.polyfit(x, y, 3))
    return float(np.polyval(antiderivative, hi) - np.polyval(antiderivative, lo))


def bd_rate(
    rate_anchor: Sequence[float],
    quality_anchor: Sequence[float],
    rate_test: Sequence[float],
    quality_test: Sequence[float],
    method: Method = "pchip",
) -> float:
    """BD-rate of the test curve against the anchor, in percent (negative: the test codec saves bits).

    Rates in any unit (bpp), qualities in dB; points in any order. Needs at least 4 points per curve for
    ``"cubic"`` and 2 for ``"pchip"``, distinct qualities within a curve, and overlapping quality ranges.
    """
    if method not in METHODS:
        raise InvalidCurveError(f"unknown BD-rate method {method!r}; choose from {', '.join(METHODS)}")
    min_points = 4 if method == "cubic" else 2
    qa, la = _prepare(rate_anchor, quality_anchor, min_points)
    qt, lt = _prepare(rate_test, quality_test, min_points)
    lo, hi = max(qa[0], qt[0]), min(qa[-1], qt[-1])
    if hi <= lo:
        raise InvalidCurveError(
            f"the curves' quality ranges do not overlap ({qa[0]:.2f}-{qa[-1]:.2f} vs {qt[0]:.2f}-{qt[-1]:.2f} dB)"
        )
    integral = _cubic_integral if method == "cubic" else _pchip_integral
    mean_diff = (integral(qt, lt, lo, hi) - integral(qa, la, lo, hi)) / (hi - lo)
    return (math.exp(mean_diff) - 1.0) * 100.0


def bd_rate_curves(anchor: Curve, test: Curve, method: Method = "pchip") -> float:
    """:func:`bd_rate` of two :class:`Curve` objects."""
    return bd_rate(anchor.bpp, anchor.quality, test.bpp, test.quality, method)
