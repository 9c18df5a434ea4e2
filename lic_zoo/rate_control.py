"""Rate control: the quality of a variable-rate codec that meets a target bpp or PSNR, found with real encodes.

A variable-rate codec's gains are geometric in the quality, so ``log(bpp)`` is close to linear in it, and the
PSNR (in dB) roughly so. The search treats ``error(quality)`` (``log(bpp / target)``, or the PSNR minus the aim)
as an increasing, nearly linear function and finds its root with a few encodes:

- from a start quality (the codec's default), a Newton step with a prior slope, then secant steps until the
  target is bracketed, the range's end is reached (the target is out of reach), or the target is met;
- inside a bracket, regula falsi with the Illinois correction, kept clear of the bracket's ends, on the 1/1000
  quality grid (never the same quality twice).

With latent overfitting (LOF) on, a cheap pass without LOF runs first; the search with the requested LOF then
starts at its result, with its local slope (LOF shifts the curve, it hardly tilts it). Every measured point is
a whole real file: ``bpp = 8 * len(data) / (H * W)``, PSNR-RGB of the 8-bit output (the definition of
:func:`lic_zoo.evaluation.metrics.psnr_rgb`).

A bpp target is met within ``tolerance`` (relative, default 3 %) of it; a PSNR target when the PSNR is at least
the target and at most ``tolerance`` dB (default 0.15) above it. The result is the closest point tried (bpp), or
the cheapest one at or above the target PSNR (else the one of highest PSNR). That one may lie above the band
when it costs no more bits than a point inside it (small images quantise bpp coarsely): the target still counts
as met. When the target lies outside what the codec's qualities reach, that is the nearest end of the range,
and the result says the target was not met.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

import numpy as np
from PIL import Image
from torch import Tensor

from .errors import UnknownModelError
from .image_io import as_image_tensor, tensor_to_pil, to_uint8
from .model.rate import QUALITY_UNITS, quality_from_units, quality_units

if TYPE_CHECKING:
    from .codec import EncodeResult, MSPCodec

BPP_TOLERANCE = 0.03  # relative
PSNR_TOLERANCE = 0.15  # dB above the target (about what 3 % of the bits buys)
MAX_ENCODES = 8  # encodes with the requested LOF
MAX_CHEAP_ENCODES = 6  # encodes of the pass without LOF that precedes them when LOF is on
PRIOR_SLOPE = {"bpp": 0.25, "psnr": 1.0}  # d log(bpp)/d quality and d PSNR/d quality: the first step's guess
_PSNR_CAP = 100.0  # dB; a lossless reconstruction (infinite PSNR) counts as this much in the search


@dataclass(frozen=True)
class Target:
    """What to aim at: ``kind`` "bpp" (bits per pixel of the whole file) or "psnr" (PSNR-RGB in dB)."""

    kind: Literal["bpp", "psnr"]
    value: float
    tolerance: float  # bpp: relative (0.03 = 3 %); psnr: dB above ``value``

    @classmethod
    def of(cls, target_bpp: float | None = None, target_psnr: float | None = None,
           tolerance: float | None = None) -> "Target":
        """The one target given; :class:`ValueError` for none, both, or a value that is not a positive number."""
        if (target_bpp is None) == (target_psnr is None):
            raise ValueError("give exactly one of target_bpp and target_psnr")
        kind, value = ("bpp", target_bpp) if target_bpp is not None else ("psnr", target_psnr)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"target_{kind} must be a positive number, got {value!r}")
        if tolerance is None:
            tolerance = BPP_TOLERANCE if kind == "bpp" else PSNR_TOLERANCE
        if not math.isfinite(tolerance) or tolerance <= 0:
            raise ValueError(f"the {kind} tolerance must be a positive number, got {tolerance!r}")
        return cls(kind, float(value), float(tolerance))

    def __str__(self) -> str:
        return f"{self.value:g} bpp" if self.kind == "bpp" else f"{self.value:g} dB PSNR"

    def error(self, probe: "Probe") -> float:
        """Signed distance of ``probe`` from the aim, increasing with quality: ``log(bpp / target)``, or the PSNR
        minus the middle of the accepted band."""
        if self.kind == "bpp":
            return math.log(probe.bpp / self.value)
        return min(probe.psnr, _PSNR_CAP) - (self.value + self.tolerance / 2)

    def met(self, probe: "Probe") -> bool:
        """Whether ``probe`` meets the target within the tolerance."""
        if self.kind == "bpp":
            return abs(probe.bpp / self.value - 1) <= self.tolerance
        return self.value <= probe.psnr <= self.value + self.tolerance

    def better(self, a: "Probe", b: "Probe") -> bool:
        """Whether ``a`` is a better answer than ``b``: closer in bpp; or, for PSNR, fewer bits at or above the
        target (the same bits: the higher PSNR), else the higher PSNR."""
        if self.kind == "bpp":
            return abs(math.log(a.bpp / self.value)) < abs(math.log(b.bpp / self.value))
        a_ok, b_ok = a.psnr >= self.value, b.psnr >= self.value
        if a_ok != b_ok:
            return a_ok
        if a_ok and a.bpp != b.bpp:
            return a.bpp < b.bpp
        return a.psnr > b.psnr  # below the target, or the same size: the higher PSNR


@dataclass(frozen=True)
class Probe:
    """One real encode: its quality, the file's bpp and the 8-bit output's PSNR-RGB."""

    quality: float
    bpp: float
    psnr: float


@dataclass(frozen=True)
class Search:
    """What :func:`search_quality` found: the best point, whether it meets the target, and every point tried."""

    best: Probe
    met: bool
    probes: tuple[Probe, ...]  # with the requested LOF, in order
    cheap_probes: tuple[Probe, ...] = ()  # of the pass without LOF, in order

    @property
    def encodes(self) -> int:
        """Encodes run, both passes together."""
        return len(self.probes) + len(self.cheap_probes)


def search_quality(measure: Callable[[float], Probe], target: Target, qualities: tuple[float, float], *,
                   start: float, cheap_measure: Callable[[float], Probe] | None = None,
                   max_encodes: int = MAX_ENCODES, max_cheap_encodes: int = MAX_CHEAP_ENCODES) -> Search:
    """Find the quality in ``qualities`` (low, high) whose encode meets ``target``; see the module docstring.

    ``measure(quality)`` encodes at a quality on the 1/1000 grid; ``cheap_measure``, if given, is a cheaper
    stand-in (no LOF) that brackets the target first. Each is called at most once per quality.
    """
    if max_encodes < 1:
        raise ValueError(f"max_encodes must be at least 1, got {max_encodes}")
    low, high = quality_units(qualities[0]), quality_units(qualities[1])
    start_units = min(max(quality_units(start), low), high)
    slope = PRIOR_SLOPE[target.kind] / QUALITY_UNITS
    cheap: list[Probe] = []
    if cheap_measure is not None and max_cheap_encodes > 0:
        cheap = _solve(cheap_measure, target, low, high, start_units, slope, max_cheap_encodes)
        best_cheap = _best(cheap, target)
        start_units = quality_units(best_cheap.quality)
        slope = _local_slope(cheap, target, start_units) or slope
    probes = _solve(measure, target, low, high, start_units, slope, max_encodes)
    best = _best(probes, target)  # for PSNR: no more bits than any point tried inside the band
    return Search(best, any(target.met(p) for p in probes), tuple(probes), tuple(cheap))


def _best(probes: list[Probe], target: Target) -> Probe:
    best = probes[0]
    for probe in probes[1:]:
        if target.better(probe, best):
            best = probe
    return best


def _solve(measure: Callable[[float], Probe], target: Target, low: int, high: int, start: int, slope: float,
           budget: int) -> list[Probe]:
    """Probes from ``start`` (quality units) until one meets ``target``, no better quality is left to try, or the
    budget is spent; ``slope`` (error per quality unit) is the guess used while no secant is at hand."""
    probes: list[Probe] = []
    units: int | None = start
    while units is not None and len(probes) < budget:
        probe = measure(quality_from_units(units))
        probes.append(probe)
        if target.met(probe):
            break
        units = _next_units(probes, target, low, high, slope)
    return probes


def _next_units(probes: list[Probe], target: Target, low: int, high: int, slope: float) -> int | None:
    """The next quality (in units) to try, or None when trying more cannot help."""
    points = [(quality_units(p.quality), target.error(p)) for p in probes]
    tried = {u for u, _ in points}
    below = [(u, e) for u, e in points if e < 0]
    above = [(u, e) for u, e in points if e > 0]
    if len(below) + len(above) < len(points):  # exactly on the aim: nothing to improve
        return None
    if below and above:
        (ua, ea), (ub, eb) = max(below), min(above)
        if ua >= ub or ub - ua <= 1:  # not monotone here, or a bracket one grid step wide: stop
            return None
        last_two = [e for _, e in points[-2:]]
        if len(last_two) == 2 and (last_two[0] < 0) == (last_two[1] < 0):  # Illinois: the other end stuck
            if last_two[1] < 0:
                eb /= 2
            else:
                ea /= 2
        t = min(max(-ea / (eb - ea), 0.05), 0.95)
        candidate = min(max(round(ua + t * (ub - ua)), ua + 1), ub - 1)
        return None if candidate in tried else candidate
    # One-sided: step towards the target with the secant of the two nearest points (else the slope guess).
    going_up = not above
    side = sorted(below if going_up else above, reverse=going_up)  # nearest to the target first
    anchor, error = side[0]
    if anchor == (high if going_up else low):
        return None  # the range's end is already on this side: out of reach
    local = slope
    if len(side) >= 2 and abs(side[0][0] - side[1][0]) >= 10:
        secant = (side[0][1] - side[1][1]) / (side[0][0] - side[1][0])
        if secant > slope / 20:  # increasing, not flattened by noise
            local = secant
    step = -error / local
    if not math.isfinite(step):
        step = (high - low) if going_up else -(high - low)
    candidate = anchor + (max(round(step), 1) if going_up else min(round(step), -1))
    candidate = min(max(candidate, low), high)
    return None if candidate in tried else candidate


def _local_slope(probes: list[Probe], target: Target, units: int) -> float | None:
    """The secant slope (error per quality unit) of the two probes nearest ``units``, if it is usable."""
    points = sorted((abs(quality_units(p.quality) - units), quality_units(p.quality), target.error(p))
                    for p in probes)
    if len(points) < 2:
        return None
    (_, u1, e1), (_, u2, e2) = points[:2]
    if u1 == u2:
        return None
    secant = (e2 - e1) / (u2 - u1)
    prior = PRIOR_SLOPE[target.kind] / QUALITY_UNITS
    return secant if secant > prior / 20 and math.isfinite(secant) else None


def output_psnr(x_hat: Tensor, reference: Tensor, layout: str) -> float:
    """PSNR-RGB in dB of the 8-bit image a decoder writes for ``x_hat`` (3, H, W) against the 8-bit
    ``reference`` (3, H, W) in [0, 1]; a grayscale ("L") output is scored as the gray image it is."""
    from .evaluation.metrics import psnr_rgb

    if layout == "L":  # what the decoder writes: the luma of the reconstruction, scored on all three samples
        out = np.repeat(np.asarray(tensor_to_pil(x_hat, "L"))[..., None], 3, axis=2)
    else:
        out = to_uint8(x_hat).permute(1, 2, 0).cpu().numpy()
    return psnr_rgb(out, to_uint8(reference).permute(1, 2, 0).cpu().numpy())


def encode_to_target(codec: "MSPCodec", image: Tensor | Image.Image, *, target_bpp: float | None = None,
                     target_psnr: float | None = None, tolerance: float | None = None, lof_steps: int | None = None,
                     max_encodes: int = MAX_ENCODES, **encode_options) -> "EncodeResult":
    """Encode ``image`` with ``codec`` (variable-rate) at the quality that meets ``target_bpp`` or ``target_psnr``.

    ``lof_steps`` and ``encode_options`` (``lof_lr``, ``lof_seconds``, ``progress``) apply to every encode, as in
    :meth:`~lic_zoo.codec.MSPCodec.encode`. The result's ``quality``, ``bpp``, ``psnr``, ``target_met`` and
    ``encodes`` tell what was reached; a target out of reach gives the nearest end of the quality range with
    ``target_met=False``. Raises :class:`UnknownModelError` for a fixed-rate codec, ``ValueError`` for a bad target.
    """
    target = Target.of(target_bpp, target_psnr, tolerance)
    if not codec.variable_rate:
        raise UnknownModelError(f"target_{target.kind} needs a variable-rate codec (one serving a range of "
                                f"qualities); this {codec.model_name} serves quality {codec.quality} only")
    x, layout = as_image_tensor(image)
    height, width = x.shape[-2:]
    codec.limits.check(height, width)
    steps = codec.lof_budget(height, width, lof_steps)
    kept: dict[str, tuple[Probe, EncodeResult]] = {}  # the best full encode so far: nothing else is held

    def measurer(with_lof: bool) -> Callable[[float], Probe]:
        def measure(quality: float) -> Probe:
            result = codec.encode(image, quality=quality, lof_steps=steps if with_lof else 0, **encode_options)
            probe = Probe(quality, 8 * len(result.data) / (height * width), output_psnr(result.x_hat, x, layout))
            if with_lof and ("best" not in kept or target.better(probe, kept["best"][0])):
                kept["best"] = (probe, result)
            return probe
        return measure

    search = search_quality(measurer(True), target, codec.qualities, start=codec.quality,
                            cheap_measure=measurer(False) if steps > 0 else None, max_encodes=max_encodes)
    probe, result = kept["best"]  # search.best, the same comparison over the same probes
    return replace(result, quality=probe.quality, bpp=probe.bpp, psnr=probe.psnr, target_met=search.met,
                   encodes=search.encodes)
