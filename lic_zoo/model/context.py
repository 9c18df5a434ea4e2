"""The shared context network of the MSP probability model, in float (training) and exact (coding) form.

At coding time the network runs in fixed point: weights are integers with a per-output-channel power-of-two
scale, activations are integers in units of ``2**-ACT_FRAC_BITS``, and convolutions run in float64 where every
partial sum is an integer below 2**53, hence exact whatever the summation order, thread count, kernel library
or device. Encoder and decoder therefore compute bit-identical means and scales.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ACT_FRAC_BITS = 12  # activations are multiples of 1/4096 at coding time (rate cost: docs/robustness.md)
ACT_LIMIT = float(2**26)  # |activation| <= 16384 (in units of 1/4096: 2**26)
WEIGHT_BITS = 15  # |integer weight| < 2**15
EXACT_SUM_LIMIT = 2.0**53  # float64 integers are exact below this
LEAKY_SLOPE_SHIFT = 3  # LeakyReLU slope 1/8: exact in fixed point as a floor division


def leaky_relu(x: Tensor) -> Tensor:
    return F.leaky_relu(x, 1.0 / (1 << LEAKY_SLOPE_SHIFT))


def to_grid(x: Tensor) -> Tensor:
    """Round real values to the activation grid (multiples of 2**-ACT_FRAC_BITS), in float64."""
    scale = float(1 << ACT_FRAC_BITS)
    return torch.round(x.to(torch.float64) * scale) / scale


class ContextNetwork(nn.Module):
    """Predicts a mean and a log-scale for every latent element, and a new hidden state.

    Input: the partly decoded latent (unknown positions filled from the coarser scale), one known-mask
    channel per channel group, and the hidden state. Output channels: C means, C log-scales, hidden.
    """

    def __init__(self, latent_channels: int, num_groups: int, width: int, blocks: int, hidden: int) -> None:
        super().__init__()
        self.latent_channels = latent_channels
        self.hidden_channels = hidden
        self.conv_in = nn.Conv2d(latent_channels + num_groups + hidden, width, 3, padding=1)
        self.blocks = nn.ModuleList(
            nn.ModuleList([nn.Conv2d(width, width, 3, padding=1), nn.Conv2d(width, width, 3, padding=1)])
            for _ in range(blocks)
        )
        self.conv_out = nn.Conv2d(width, 2 * latent_channels + hidden, 1)

    def _split(self, out: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        c = self.latent_channels
        return out[:, :c], out[:, c : 2 * c], out[:, 2 * c :]

    def _empty(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        out = x.new_zeros(x.shape[0], self.conv_out.out_channels, *x.shape[-2:])
        return self._split(out)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Float forward: returns (mean, log_scale, hidden)."""
        if x.shape[-1] == 0 or x.shape[-2] == 0:
            return self._empty(x)
        h = leaky_relu(self.conv_in(x))
        for conv1, conv2 in self.blocks:
            h = h + conv2(leaky_relu(conv1(h)))
        return self._split(self.conv_out(leaky_relu(h)))

    def exact(self) -> "ExactContextNetwork":
        """The fixed-point twin of this network, built from the current weights."""
        return ExactContextNetwork(self)


class _ExactConv:
    """A convolution with integer weights: y_int = round((W_int * x_int + b_int) / 2**e) per output channel.

    A k x k convolution runs as k*k in-place matrix products on the zero-padded input flattened row by row: the
    tap (i, j) of every output position is the input ``i`` rows and ``j`` columns further on in that flat array,
    so each tap is a contiguous slice and needs no im2col copy (faster than float64 ``conv2d``: docs/speed.md).
    Outputs land on a grid ``k - 1`` columns wider than the image; the extra columns are cropped.
    """

    def __init__(self, conv: nn.Conv2d) -> None:
        w = conv.weight.detach().to("cpu", torch.float64)
        peak = w.abs().flatten(1).amax(dim=1)
        _, exponent = torch.frexp(peak)  # peak = m * 2**exponent, m in [0.5, 1)
        shift = torch.where(peak > 0, WEIGHT_BITS - exponent, torch.zeros_like(exponent)).to(torch.float64)
        mult = torch.pow(2.0, shift)
        device = conv.weight.device
        self.kernel = conv.kernel_size[0]
        if conv.kernel_size != (self.kernel, self.kernel) or conv.padding != (self.kernel // 2, self.kernel // 2):
            raise ValueError("exact convolutions must be square with 'same' padding")
        # (taps, out, in): taps in row-major order of the kernel window
        self.taps = torch.round(w * mult[:, None, None, None]).permute(2, 3, 0, 1).flatten(0, 1).contiguous().to(device)
        self.bias = torch.round(conv.bias.detach().to("cpu", torch.float64) * mult * (1 << ACT_FRAC_BITS)).to(device)
        self.inv_mult = torch.pow(2.0, -shift).to(device)[None, :, None, None]
        terms = conv.in_channels * self.kernel**2 + 1
        if terms * 2.0**WEIGHT_BITS * ACT_LIMIT >= EXACT_SUM_LIMIT:
            raise ValueError(f"a convolution over {terms} terms could exceed float64's exact integer range")

    def __call__(self, x: Tensor) -> Tensor:
        batch, _, height, width = x.shape
        pad = self.kernel // 2
        row = width + 2 * pad
        # one extra bottom row keeps the last taps of the widened grid inside the array
        flat = F.pad(x, (pad, pad, pad, pad + 1)).flatten(2)
        positions = height * row
        bias = self.bias[None, :, None].expand(batch, -1, positions)
        acc = torch.baddbmm(bias, self.taps[0].expand(batch, -1, -1), flat[..., :positions])
        for tap in range(1, len(self.taps)):
            offset = (tap // self.kernel) * row + tap % self.kernel
            acc.baddbmm_(self.taps[tap].expand(batch, -1, -1), flat[..., offset : offset + positions])
        acc = acc.view(batch, -1, height, row)[..., :width]
        return acc.mul_(self.inv_mult).round_().clamp_(-ACT_LIMIT, ACT_LIMIT)


def _exact_leaky_relu(x: Tensor) -> Tensor:
    """floor(x / 8) for negative integers, x otherwise: max(x, floor(x / 8)) is both."""
    return torch.maximum(x, x.div(1 << LEAKY_SLOPE_SHIFT).floor_())


class ExactContextNetwork:
    """Fixed-point evaluation of a :class:`ContextNetwork`; inputs and outputs are real values on the grid."""

    def __init__(self, net: ContextNetwork) -> None:
        self._net = net
        self.conv_in = _ExactConv(net.conv_in)
        self.blocks = [(_ExactConv(c1), _ExactConv(c2)) for c1, c2 in net.blocks]
        self.conv_out = _ExactConv(net.conv_out)

    def __call__(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        if x.shape[-1] == 0 or x.shape[-2] == 0:
            return self._net._empty(x.to(torch.float64))
        scale = float(1 << ACT_FRAC_BITS)
        h = torch.round(x.to(torch.float64) * scale).clamp(-ACT_LIMIT, ACT_LIMIT)
        h = _exact_leaky_relu(self.conv_in(h))
        for conv1, conv2 in self.blocks:
            h = (h + conv2(_exact_leaky_relu(conv1(h)))).clamp(-ACT_LIMIT, ACT_LIMIT)
        out = self.conv_out(_exact_leaky_relu(h)) / scale
        return self._net._split(out)
