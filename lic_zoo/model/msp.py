"""The multi-scale progressive (MSP) probability model: scales, step schedule and the shared traversal.

Scales are nested subsamplings of the latent: ``y_{s+1} = y_s[..., 1::2, 1::2]``, so they partition ``y``.
The coarsest scale is coded with a factorised density; every finer scale is decoded in three phases
((0,0), (0,1), (1,0) of each 2x2 block; (1,1) is the coarser scale), each phase in channel groups, each
(phase, group) one call of the shared context network. :meth:`MSPEntropyModel.traverse` is the single
implementation of that schedule, used by training, the encoder and the decoder alike.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .context import ContextNetwork, to_grid
from .entropy_models import FactorizedDensity, gaussian_likelihood, scales_from_log
from .profiles import Profile

PHASES: tuple[tuple[int, int], ...] = ((0, 0), (0, 1), (1, 0))


@dataclass(frozen=True)
class Step:
    """One sequential context-network call: a phase of a scale, restricted to one channel group."""

    scale: int
    phase: tuple[int, int]
    group: int
    channels: slice

    def index(self) -> tuple[slice, slice, slice, slice]:
        """Index of this step's elements in a (B, C, H_s, W_s) tensor of its scale."""
        row, col = self.phase
        return (slice(None), self.channels, slice(row, None, 2), slice(col, None, 2))


def build_schedule(profile: Profile) -> tuple[Step, ...]:
    """All context steps in decoding order: coarse to fine, phases in order, groups in order."""
    bounds = torch.tensor((0, *profile.groups)).cumsum(0).tolist()
    return tuple(
        Step(s, phase, g, slice(bounds[g], bounds[g + 1]))
        for s in reversed(range(profile.scales))
        for phase in PHASES
        for g in range(len(profile.groups))
    )


def scale_shapes(height: int, width: int, scales: int) -> list[tuple[int, int]]:
    """Spatial size of every scale 0..S for a latent of ``height x width`` (floor subsampling)."""
    shapes = [(height, width)]
    for _ in range(scales):
        h, w = shapes[-1]
        shapes.append((h // 2, w // 2))
    return shapes


def subsample(y: Tensor, scale: int) -> Tensor:
    """Scale ``s`` of the latent: y[..., 2**s - 1 :: 2**s, 2**s - 1 :: 2**s]."""
    step = 1 << scale
    return y[..., step - 1 :: step, step - 1 :: step]


def nearest_upsample(t: Tensor, height: int, width: int) -> Tensor:
    """Spread a coarse-scale tensor over the finer grid: fine (r, c) takes coarse (min(r//2, h-1), min(c//2, w-1))."""
    h, w = t.shape[-2:]
    if h == 0 or w == 0:
        return t.new_zeros(*t.shape[:-2], height, width)
    rows = torch.arange(height, device=t.device).div(2, rounding_mode="floor").clamp(max=h - 1)
    cols = torch.arange(width, device=t.device).div(2, rounding_mode="floor").clamp(max=w - 1)
    return t[..., rows[:, None], cols[None, :]]


ContextFn = Callable[[Tensor], tuple[Tensor, Tensor, Tensor]]
StepFn = Callable[[Step, Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class Gains:
    """The quantisation gains of one batch: the latent is coded as ``y * gain`` (the step is ``1 / gain``).

    ``gain`` and ``log_gain`` are (B, C, 1, 1); ``feature`` (B,) is the quality input of a variable-rate context
    network, None for a fixed-rate one. A fixed-rate codec's gains are exactly 1.
    """

    gain: Tensor
    log_gain: Tensor
    feature: Tensor | None = None

    @classmethod
    def unit(cls, batch: int, channels: int, like: Tensor) -> "Gains":
        ones = like.new_ones(batch, channels, 1, 1)
        return cls(ones, torch.zeros_like(ones))


def with_gains(context: ContextFn, gains: Gains, channels: int) -> ContextFn:
    """The context network seen from the gained (coding) domain.

    The network itself works on the ungained latent, the same for every quality: its latent input is divided by the
    gain, the quality feature is appended as one more input plane, and its mean and log-scale are mapped back
    (``mean * gain``, ``log_scale + log_gain``).
    """

    def call(inputs: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        parts = [inputs[:, :channels] / gains.gain, inputs[:, channels:]]
        if gains.feature is not None:
            parts.append(gains.feature.to(inputs)[:, None, None, None].expand(-1, 1, *inputs.shape[-2:]))
        mean, log_scale, hidden = context(torch.cat(parts, 1))
        return mean * gains.gain, log_scale + gains.log_gain, hidden

    return call


class MSPEntropyModel(nn.Module):
    """Factorised coarsest scale + context-coded finer scales; see the module docstring."""

    def __init__(self, profile: Profile, *, conditioned: bool = False) -> None:
        super().__init__()
        self.profile = profile
        self.schedule = build_schedule(profile)
        self.factorized = FactorizedDensity(profile.latent_channels)
        self.context = ContextNetwork(
            profile.latent_channels, len(profile.groups) + int(conditioned), profile.context_width,
            profile.context_blocks, profile.hidden_channels,
        )
        self.register_buffer("group_sizes", torch.tensor(profile.groups), persistent=False)

    def coding_medians(self, gain: Tensor) -> Tensor:
        """Per-channel medians of the gained factorised scale on the coding grid (exact in float64); ``gain`` is (C,)
        or (B, C), the result has its shape."""
        return to_grid(self.factorized.medians.detach().to(gain) * gain)

    def traverse(self, coarse: Tensor, latent_shape: tuple[int, int], context: ContextFn, step_fn: StepFn) -> Tensor:
        """Run the decoding schedule from the decoded coarsest scale to the full latent.

        ``coarse`` is the decoded scale S, (B, C, h_S, w_S). For every step, ``context`` maps the network
        input to (mean, log_scale, hidden) and ``step_fn(step, mean, log_scale)`` -- both restricted to the
        step's elements -- returns the decoded values of those elements. Returns the decoded latent.
        """
        shapes = scale_shapes(*latent_shape, self.profile.scales)
        batch = coarse.shape[0]
        y_hat, hidden = coarse, None
        for s in reversed(range(self.profile.scales)):
            h, w = shapes[s]
            current = coarse.new_zeros(batch, self.profile.latent_channels, h, w)
            current[..., 1::2, 1::2] = y_hat
            fill = nearest_upsample(y_hat, h, w)
            known = coarse.new_zeros(1, len(self.profile.groups), h, w)
            known[..., 1::2, 1::2] = 1
            hidden = (
                coarse.new_zeros(batch, self.profile.hidden_channels, h, w)
                if hidden is None
                else nearest_upsample(hidden, h, w)
            )
            for step in (st for st in self.schedule if st.scale == s):
                known_channels = known.repeat_interleave(self.group_sizes, dim=1).bool()
                inputs = torch.cat([torch.where(known_channels, current, fill), known.expand(batch, -1, -1, -1), hidden], 1)
                mean, log_scale, hidden = context(inputs)
                index = step.index()
                current[index] = step_fn(step, mean[index], log_scale[index])
                known[:, step.group, step.phase[0] :: 2, step.phase[1] :: 2] = 1
            y_hat = current
        return y_hat

    def forward(self, y: Tensor, gains: Gains, *, noise: bool | None = None,
                context: ContextFn | None = None) -> tuple[Tensor, list[Tensor]]:
        """Training/estimation pass over the decoder's exact schedule, on the gained latent ``y``.

        Returns the latent the decoder would see (mean-shifted rounding with straight-through gradients) and
        the likelihoods of every step, factorised scale first, each flattened to (B, n_elements). Rates use
        additive uniform noise when ``noise`` (default: in training mode), else straight-through rounding.
        ``context`` replaces the float context network, e.g. by its fixed-point twin to estimate coding rates.
        """
        noisy = self.training if noise is None else noise
        coarse = subsample(y, self.profile.scales)
        medians = self.coding_medians(gains.gain.flatten(1)).to(y)[..., None, None]
        coarse_hat = _ste_round(coarse - medians) + medians
        coarse_rate = coarse + torch.empty_like(coarse).uniform_(-0.5, 0.5) if noisy else coarse_hat
        likelihoods = [self.factorized.likelihood(coarse_rate / gains.gain, 1 / gains.gain).flatten(1)]
        targets = {s: subsample(y, s) for s in range(self.profile.scales)}

        def step_fn(step: Step, mean: Tensor, log_scale: Tensor) -> Tensor:
            residual = targets[step.scale][step.index()] - mean
            rounded = _ste_round(residual)
            rate_residual = residual + torch.empty_like(residual).uniform_(-0.5, 0.5) if noisy else rounded
            likelihoods.append(gaussian_likelihood(rate_residual, scales_from_log(log_scale)).flatten(1))
            return rounded + mean

        context = with_gains(context or self.context, gains, self.profile.latent_channels)
        y_hat = self.traverse(coarse_hat, tuple(y.shape[-2:]), context, step_fn)
        return y_hat, likelihoods


def _ste_round(x: Tensor) -> Tensor:
    """Round in the forward pass, identity gradient in the backward pass."""
    return x + (torch.round(x) - x).detach()
