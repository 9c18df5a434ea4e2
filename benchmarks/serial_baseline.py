"""Reference decoders for the speed comparison: Minnen 2018's serial context model and a hyperprior.

`SerialContextCodec` is the standard joint autoregressive + hyperprior model (Minnen, Ballé, Toderici 2018;
CompressAI's `mbt2018` layout at qualities 1-4: N = M = 192): a 5x5 masked convolution over the decoded
latent, concatenated with the hyperprior's parameters, through a 1x1 entropy-parameters network, one latent
position at a time — ``h x w`` sequential steps. `HyperpriorCodec` decodes the same latent with the
hyperprior alone (Ballé 2018 mean-scale, `mbt2018-mean` layout): one parallel step. Both code real symbols
with the same constriction coder as lic_zoo, so the comparison isolates the decoding schedule.

Weights are random: decode time does not depend on them beyond the entropy coder's share.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lic_zoo.coding.entropy_coding import GAUSSIAN_HALF_RANGE, Decoder, Encoder
from lic_zoo.model.entropy_models import scale_indices
from lic_zoo.model.transforms import SimplifiedGDN


def _conv(i: int, o: int, k: int = 5, s: int = 2) -> nn.Conv2d:
    return nn.Conv2d(i, o, k, stride=s, padding=k // 2)


def _deconv(i: int, o: int, k: int = 5, s: int = 2) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(i, o, k, stride=s, padding=k // 2, output_padding=s - 1)


class HyperpriorCodec(nn.Module):
    """Mean-scale hyperprior (mbt2018-mean layout): z coded with a fixed Gaussian, y with (mu, sigma) from h_s."""

    def __init__(self, n: int = 192, m: int = 192) -> None:
        super().__init__()
        self.m = m
        self.g_s = nn.Sequential(_deconv(m, n), SimplifiedGDN(n, inverse=True), _deconv(n, n),
                                 SimplifiedGDN(n, inverse=True), _deconv(n, n), SimplifiedGDN(n, inverse=True),
                                 _deconv(n, 3))
        self.h_s = nn.Sequential(_deconv(n, m), nn.LeakyReLU(), _deconv(m, m * 3 // 2), nn.LeakyReLU(),
                                 _conv(m * 3 // 2, m * 2, 3, 1))
        self.n = n

    def hyper(self, z_hat: Tensor, latent_shape: tuple[int, int]) -> Tensor:
        return self.h_s(z_hat)[..., : latent_shape[0], : latent_shape[1]]

    @torch.no_grad()
    def encode(self, y: Tensor, z: Tensor) -> list[bytes]:
        enc_z, enc_y = Encoder(), Encoder()
        z_hat = _code_z(enc_z, z)
        mu, log_sigma = self.hyper(z_hat, y.shape[-2:]).chunk(2, 1)
        k = torch.round(y - mu).clamp(-GAUSSIAN_HALF_RANGE, GAUSSIAN_HALF_RANGE)
        enc_y.gaussian(k.numpy(), scale_indices(log_sigma).numpy())
        return [enc_z.finish(), enc_y.finish()]

    @torch.no_grad()
    def decode(self, streams: list[bytes], latent_shape: tuple[int, int]) -> Tensor:
        z_hat = _decode_z(Decoder(streams[0]), self.n, latent_shape)
        mu, log_sigma = self.hyper(z_hat, latent_shape).chunk(2, 1)
        k = Decoder(streams[1]).gaussian(scale_indices(log_sigma).numpy())
        y_hat = torch.from_numpy(k).float().reshape(mu.shape) + mu
        return self.g_s(y_hat)


class SerialContextCodec(HyperpriorCodec):
    """Joint autoregressive + hyperprior (mbt2018 layout): one sequential step per latent position."""

    def __init__(self, n: int = 192, m: int = 192) -> None:
        super().__init__(n, m)
        self.context = nn.Conv2d(m, 2 * m, 5, padding=2)
        mask = torch.ones_like(self.context.weight)
        mask[:, :, 2, 2:] = 0
        mask[:, :, 3:, :] = 0
        self.register_buffer("mask", mask)
        self.entropy_parameters = nn.Sequential(
            nn.Conv2d(m * 4, m * 10 // 3, 1), nn.LeakyReLU(), nn.Conv2d(m * 10 // 3, m * 8 // 3, 1), nn.LeakyReLU(),
            nn.Conv2d(m * 8 // 3, m * 2, 1),
        )

    def _position_params(self, y_hat: Tensor, params: Tensor, r: int, c: int) -> tuple[Tensor, Tensor]:
        window = y_hat[:, :, r : r + 5, c : c + 5]  # y_hat is padded by 2 on every side
        ctx = F.conv2d(window, self.context.weight * self.mask, self.context.bias)
        out = self.entropy_parameters(torch.cat([params[:, :, r : r + 1, c : c + 1], ctx], 1))
        return out.chunk(2, 1)

    @torch.no_grad()
    def encode(self, y: Tensor, z: Tensor) -> list[bytes]:
        enc_z, enc_y = Encoder(), Encoder()
        params = self.hyper(_code_z(enc_z, z), y.shape[-2:])
        h, w = y.shape[-2:]
        y_hat = F.pad(torch.zeros_like(y), (2, 2, 2, 2))
        for r in range(h):
            for c in range(w):
                mu, log_sigma = self._position_params(y_hat, params, r, c)
                k = torch.round(y[:, :, r : r + 1, c : c + 1] - mu).clamp(-GAUSSIAN_HALF_RANGE, GAUSSIAN_HALF_RANGE)
                enc_y.gaussian(k.numpy(), scale_indices(log_sigma).numpy())
                y_hat[:, :, r + 2, c + 2] = (k + mu)[:, :, 0, 0]
        return [enc_z.finish(), enc_y.finish()]

    @torch.no_grad()
    def decode(self, streams: list[bytes], latent_shape: tuple[int, int]) -> Tensor:
        z_hat = _decode_z(Decoder(streams[0]), self.n, latent_shape)
        params = self.hyper(z_hat, latent_shape)
        h, w = latent_shape
        dec = Decoder(streams[1])
        y_hat = torch.zeros(1, self.m, h + 4, w + 4)
        for r in range(h):
            for c in range(w):
                mu, log_sigma = self._position_params(y_hat, params, r, c)
                k = dec.gaussian(scale_indices(log_sigma).numpy())
                y_hat[:, :, r + 2, c + 2] = torch.from_numpy(k).float() + mu[:, :, 0, 0]
        return self.g_s(y_hat[:, :, 2:-2, 2:-2])


def _z_shape(n: int, latent_shape: tuple[int, int]) -> tuple[int, ...]:
    return (1, n, math.ceil(latent_shape[0] / 4), math.ceil(latent_shape[1] / 4))


def _code_z(encoder: Encoder, z: Tensor) -> Tensor:
    k = torch.round(z).clamp(-GAUSSIAN_HALF_RANGE, GAUSSIAN_HALF_RANGE)
    encoder.gaussian(k.numpy(), np.full(k.numel(), 40))
    return k


def _decode_z(decoder: Decoder, n: int, latent_shape: tuple[int, int]) -> Tensor:
    shape = _z_shape(n, latent_shape)
    k = decoder.gaussian(np.full(int(np.prod(shape)), 40))
    return torch.from_numpy(k).float().reshape(shape)


def random_latents(n: int, m: int, latent_shape: tuple[int, int], seed: int = 0) -> tuple[Tensor, Tensor]:
    """A latent and hyper-latent of plausible magnitude for timing."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randn(1, m, *latent_shape, generator=g) * 2
    z = torch.randn(*_z_shape(n, latent_shape), generator=g)
    return y, z
