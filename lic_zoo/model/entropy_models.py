"""Differentiable entropy models: the factorised density of the coarsest scale and the Gaussian conditional.

Both give likelihoods for training (additive-noise proxy) and integer probability tables or
(mean, scale) parameters for real coding in :mod:`lic_zoo.coding.entropy_coding`.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

LIKELIHOOD_FLOOR = 2.0**-24  # the smallest probability constriction's 24-bit ANS models assign
SCALE_MIN = 0.11
SCALE_LEVELS = 128  # coding-time scale table: SCALE_MIN * exp(i / SCALE_STEPS_PER_NAT)
SCALE_STEPS_PER_NAT = 16
LOG_SCALE_MIN = math.log(SCALE_MIN)
LOG_SCALE_MAX = LOG_SCALE_MIN + (SCALE_LEVELS - 1) / SCALE_STEPS_PER_NAT


def _ste_clamp(x: Tensor, lo: float, hi: float) -> Tensor:
    """Clamp in the forward pass, identity gradient in the backward pass."""
    return x + (x.clamp(lo, hi) - x).detach()


def scales_from_log(log_scale: Tensor) -> Tensor:
    """Training-time Gaussian scale: exp of the clamped log-scale (same range as the coding table)."""
    return torch.exp(_ste_clamp(log_scale, LOG_SCALE_MIN, LOG_SCALE_MAX))


def scale_indices(log_scale: Tensor) -> Tensor:
    """Coding-time scale index into :func:`scale_table` (integer, deterministic for exact inputs)."""
    idx = torch.round((log_scale - LOG_SCALE_MIN) * SCALE_STEPS_PER_NAT)
    return idx.clamp(0, SCALE_LEVELS - 1).to(torch.int64)


def scale_table() -> np.ndarray:
    """The coding-time scales ``SCALE_MIN * exp(i / SCALE_STEPS_PER_NAT)``, bit-identical on every platform."""
    return SCALE_MIN * portable_exp(np.arange(SCALE_LEVELS) / SCALE_STEPS_PER_NAT)


# Coding tables must be bit-identical wherever a stream is decoded, and libm's exp/erf differ between platforms
# in the last bit. These use only IEEE-754 +, -, *, / (correctly rounded everywhere) and exact scalings.
_LN2_HI = 6.93147180369123816490e-01  # ln 2 split so that k * _LN2_HI is exact for |k| < 2**20
_LN2_LO = 1.90821492927058770002e-10
_EXP_TERMS = 14  # Taylor terms of exp(r), |r| <= ln(2)/2: truncation error below 1e-17
_ERFC_COEFFS = (  # Chebyshev fit of erfc (Numerical Recipes "erfcc"): fractional error below 1.2e-7
    -1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806,
    0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277,
)


def portable_exp(x: np.ndarray) -> np.ndarray:
    """exp(x) in float64 from basic arithmetic only (range reduction by ln 2, Taylor series, exact ldexp)."""
    x = np.clip(np.asarray(x, dtype=np.float64), -745.0, 709.0)
    k = np.floor(x / (_LN2_HI + _LN2_LO) + 0.5)
    r = (x - k * _LN2_HI) - k * _LN2_LO
    series = np.ones_like(r)
    for n in range(_EXP_TERMS, 0, -1):
        series = 1.0 + series * r / n
    return np.ldexp(series, k.astype(np.int32))


def portable_erfc(x: np.ndarray) -> np.ndarray:
    """erfc(x) (relative error < 1.2e-7) from :func:`portable_exp` and basic arithmetic."""
    z = np.abs(np.asarray(x, dtype=np.float64))
    t = 1.0 / (1.0 + 0.5 * z)
    poly = np.full_like(t, _ERFC_COEFFS[-1])
    for c in reversed(_ERFC_COEFFS[:-1]):
        poly = c + t * poly
    tail = t * portable_exp(-z * z + poly)
    return np.where(np.asarray(x) >= 0, tail, 2.0 - tail)


def gaussian_pmf_table(half_range: int) -> np.ndarray:
    """(SCALE_LEVELS, 2 * half_range + 1): N(0, s) integrated over unit bins centred on -half_range..half_range,
    one row per coding scale, the mass beyond the range folded into the two end bins. Bit-identical everywhere."""
    k = np.arange(half_range + 1, dtype=np.float64)  # |symbol|
    scales = scale_table()[:, None]
    # upper[:, k] = P(X > k - 1/2) for k >= 1; the bin of 0 is 1 - 2 P(X > 1/2)
    upper = 0.5 * portable_erfc((k[1:] - 0.5) / (scales * np.sqrt(2.0)))
    beyond = np.concatenate([upper[:, 1:], np.zeros((len(scales), 1))], axis=1)
    positive = upper - beyond  # P(k - 1/2 < X <= k + 1/2), the last bin taking everything above
    zero = 1.0 - 2.0 * upper[:, :1]
    return np.concatenate([positive[:, ::-1], zero, positive], axis=1)


def gaussian_likelihood(residual: Tensor, scale: Tensor) -> Tensor:
    """P(bin of width 1 centred on ``residual``) under N(0, scale), numerically stable in the tails."""
    half = 0.5 / scale
    r = residual.abs() / scale
    # Use the upper tail on |r| so the difference of two small numbers stays accurate.
    upper = torch.special.ndtr(half - r)
    lower = torch.special.ndtr(-half - r)
    return (upper - lower).clamp_min(LIKELIHOOD_FLOOR)


class FactorizedDensity(nn.Module):
    """Per-channel learned non-parametric density (Ballé et al. 2018, "entropy bottleneck").

    Models the cumulative of each channel with a small monotone network. ``quantiles`` (lower, median,
    upper) are learnt with :meth:`aux_loss`; coding quantises around the median.
    """

    def __init__(self, channels: int, filters: tuple[int, ...] = (3, 3, 3), init_scale: float = 10.0,
                 tail_mass: float = 1e-9) -> None:
        super().__init__()
        self.channels = channels
        self.tail_mass = tail_mass
        dims = (1, *filters, 1)
        scale = init_scale ** (1 / (len(filters) + 1))
        self.matrices = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.factors = nn.ParameterList()
        for i in range(len(filters) + 1):
            init = math.log(math.expm1(1 / scale / dims[i + 1]))
            self.matrices.append(nn.Parameter(torch.full((channels, dims[i + 1], dims[i]), init)))
            self.biases.append(nn.Parameter(torch.empty(channels, dims[i + 1], 1).uniform_(-0.5, 0.5)))
            if i < len(filters):
                self.factors.append(nn.Parameter(torch.zeros(channels, dims[i + 1], 1)))
        self.quantiles = nn.Parameter(torch.tensor([-init_scale, 0.0, init_scale]).repeat(channels, 1, 1))

    def _logits_cumulative(self, v: Tensor) -> Tensor:
        """v: (C, 1, N) -> logits of the cumulative, (C, 1, N), in v's dtype and device."""
        for i, (matrix, bias) in enumerate(zip(self.matrices, self.biases)):
            v = torch.matmul(F.softplus(matrix.to(v)), v) + bias.to(v)
            if i < len(self.factors):
                v = v + torch.tanh(self.factors[i].to(v)) * torch.tanh(v)
        return v

    @property
    def medians(self) -> Tensor:
        return self.quantiles[:, 0, 1]

    def likelihood(self, y: Tensor, bin_width: Tensor | float = 1.0) -> Tensor:
        """Likelihood of each element of (B, C, H, W) ``y`` (already noisy or rounded): the density's mass over a
        bin of ``bin_width`` (broadcastable to ``y``; a gained latent's bins are ``1 / gain`` wide) centred on it."""
        b, c, h, w = y.shape
        half = (torch.as_tensor(bin_width, dtype=y.dtype, device=y.device) / 2).expand(b, c, h, w)

        def channels_first(t: Tensor) -> Tensor:
            return t.permute(1, 0, 2, 3).reshape(c, 1, -1)

        v, half = channels_first(y), channels_first(half)
        lower = self._logits_cumulative(v - half)
        upper = self._logits_cumulative(v + half)
        sign = -torch.sign(lower + upper).detach()
        lik = (torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower)).abs()
        return lik.clamp_min(LIKELIHOOD_FLOOR).reshape(c, b, h, w).permute(1, 0, 2, 3)

    def aux_loss(self) -> Tensor:
        """Pulls ``quantiles`` to the tail_mass/2, 0.5 and 1 - tail_mass/2 points of each channel's CDF."""
        logits = self._logits_cumulative(self.quantiles)
        target_value = math.log(2 / self.tail_mass - 1)
        target = torch.tensor([-target_value, 0.0, target_value], device=logits.device)
        return (logits - target).abs().sum()

    @torch.no_grad()
    def coding_tables(self, medians: Tensor, max_half_range: int, gain: Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Per-channel symbol offsets and probability tables for coding ``round(y * gain - medians)``.

        ``medians`` are the gained medians on the coding grid, ``gain`` the per-channel gains (1 for a fixed-rate
        codec), both (C,) float64. Returns ``(low, pmf)``: ``low[c]`` is the smallest offset of channel c,
        ``pmf[c, k]`` the probability of offset ``low[c] + k`` (rows zero-padded to a common length). Evaluated in
        float64 on the CPU.
        """
        q = self.quantiles.detach().to("cpu", torch.float64)
        med, gain = medians.detach().to("cpu", torch.float64), gain.detach().to("cpu", torch.float64)
        low = torch.floor(q[:, 0, 0] * gain - med).clamp(-max_half_range, 0)
        high = torch.ceil(q[:, 0, 2] * gain - med).clamp(0, max_half_range)
        length = int((high - low).max().item()) + 1
        offsets = low[:, None] + torch.arange(length, dtype=torch.float64)[None, :]
        points = (med[:, None] + offsets)[:, None, :]  # (C, 1, L), gained
        step = gain[:, None, None]
        lower = torch.sigmoid(self._logits_cumulative((points - 0.5) / step))
        upper = torch.sigmoid(self._logits_cumulative((points + 0.5) / step))
        pmf = (upper - lower).clamp_min(0)[:, 0, :]
        pmf[offsets > high[:, None]] = 0
        return low.to(torch.int64).numpy(), pmf.numpy()
