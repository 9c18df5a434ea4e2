"""Analysis and synthesis transforms: x (3 x H x W) <-> y (C x H/16 x W/16)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

STRIDE = 16  # four stride-2 stages


def channels_last(x: Tensor) -> Tensor:
    """The layout the transforms run in: oneDNN's convolutions are faster on it (docs/codec.md)."""
    return x.contiguous(memory_format=torch.channels_last)


class SimplifiedGDN(nn.Module):
    """Simplified generalised divisive normalisation (Johnston et al. 2019): x / (beta + gamma |x|).

    ``inverse=True`` multiplies instead (IGDN). Parameters are kept positive by reparametrising through abs.
    The 1x1 channel mixing is a matrix product over (pixels, channels) rather than a convolution: oneDNN's 1x1
    convolution rounds differently with the thread count, the BLAS product does not, so decoded pixels do not
    depend on it. On channels-last input (what the transforms feed it) that layout is a free view.
    """

    def __init__(self, channels: int, *, inverse: bool = False) -> None:
        super().__init__()
        self.inverse = inverse
        self.beta = nn.Parameter(torch.ones(channels))
        self.gamma = nn.Parameter(0.1 * torch.eye(channels).view(channels, channels, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        pixels = x.abs().permute(0, 2, 3, 1).reshape(-1, c)
        norm = torch.addmm(self.beta.abs() + 1e-6, pixels, self.gamma.abs().flatten(1).t())
        norm = norm.view(b, h, w, c).permute(0, 3, 1, 2)
        if torch.is_grad_enabled():
            return x * norm if self.inverse else x / norm
        # Coding: the output reuses norm's memory (autograd would need norm intact); gain: docs/speed.md.
        return norm.mul_(x) if self.inverse else torch.div(x, norm, out=norm)


class ResidualBlock(nn.Module):
    """conv3x3 - LeakyReLU - conv3x3, plus the identity."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(F.leaky_relu(self.conv1(x), 0.1))


def _subpixel_conv(in_ch: int, out_ch: int) -> nn.Sequential:
    """x2 upsampling: conv3x3 to 4x channels, then PixelShuffle."""
    return nn.Sequential(nn.Conv2d(in_ch, out_ch * 4, 3, padding=1), nn.PixelShuffle(2))


class AnalysisTransform(nn.Module):
    """g_a: four stride-2 5x5 convolutions with GDN, optional residual blocks after each stage."""

    def __init__(self, width: int, latent_channels: int, blocks: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = [3, width, width, width, latent_channels]
        for stage in range(4):
            layers.append(nn.Conv2d(channels[stage], channels[stage + 1], 5, stride=2, padding=2))
            if stage < 3:
                layers.append(SimplifiedGDN(width))
                layers.extend(ResidualBlock(width) for _ in range(blocks))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(channels_last(x))


class SynthesisTransform(nn.Module):
    """g_s: four sub-pixel x2 upsampling stages with inverse GDN, mirroring :class:`AnalysisTransform`."""

    def __init__(self, width: int, latent_channels: int, blocks: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = [latent_channels, width, width, width, 3]
        for stage in range(4):
            if stage > 0:
                layers.extend(ResidualBlock(width) for _ in range(blocks))
            layers.append(_subpixel_conv(channels[stage], channels[stage + 1]))
            if stage < 3:
                layers.append(SimplifiedGDN(width, inverse=True))
        self.net = nn.Sequential(*layers)

    def forward(self, y: Tensor) -> Tensor:
        return self.net(channels_last(y))


def latent_shape(height: int, width: int) -> tuple[int, int]:
    """Spatial size of the latent of a ``height x width`` image (the transforms pad to a multiple of STRIDE)."""
    return -(-height // STRIDE), -(-width // STRIDE)


def pad_to_stride(x: Tensor) -> Tensor:
    """Replicate-pad the bottom/right of a (B,3,H,W) batch to a multiple of :data:`STRIDE`."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % STRIDE, (-w) % STRIDE
    if ph == 0 and pw == 0:
        return x
    return F.pad(x, (0, pw, 0, ph), mode="replicate")
