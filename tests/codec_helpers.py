"""Helpers shared by several test files (import them from here, not from conftest): synthetic images, writing
them as files, brief training, the closed Hub endpoint."""
from __future__ import annotations

import os

import numpy as np
import torch

from lic_zoo import MSPCodec
from lic_zoo.image_io import tensor_to_pil, write_image

CLOSED_ENDPOINT = "http://127.0.0.1:9"  # nothing listens on the discard port: a stray request fails at once


def synthetic_image(height: int, width: int, seed: int = 0) -> torch.Tensor:
    """A photo-like (3, H, W) image in [0, 1]: smooth gradients, a few edges and mild texture."""
    rng = np.random.default_rng(seed)
    yy, xx = np.meshgrid(np.linspace(0, 1, height), np.linspace(0, 1, width), indexing="ij")
    channels = []
    for c in range(3):
        a, b, f = rng.uniform(0.2, 0.8, 3)
        base = a * xx + (1 - a) * yy * b + 0.15 * np.sin(2 * np.pi * (f * 3 * xx + c * yy))
        base += 0.25 * ((xx - rng.uniform()) ** 2 + (yy - rng.uniform()) ** 2 < rng.uniform(0.02, 0.1))
        channels.append(base)
    img = np.stack(channels) + rng.normal(0, 0.02, (3, height, width))
    img = (img - img.min()) / (np.ptp(img) + 1e-9)
    return torch.from_numpy(img.astype(np.float32))


def save_image(x: torch.Tensor, path: str | os.PathLike, layout: str = "RGB") -> None:
    """Write a [0, 1] tensor as an 8-bit image file (lossless format from the suffix)."""
    write_image(tensor_to_pil(x, layout), path)


def briefly_trained(profile: str, steps: int = 12, crop: int = 48, seed: int = 0) -> MSPCodec:
    """A codec trained for a few Adam steps on synthetic crops: enough to move every part off its init.

    The factorised density's quantiles then get their own aux-only steps (cheap: no image involved), as
    training does over a longer run.
    """
    torch.manual_seed(seed)
    codec = MSPCodec(profile, quality=3)
    main = [p for n, p in codec.named_parameters() if not n.endswith("quantiles")]
    opt = torch.optim.Adam(main, lr=1e-3)
    aux_opt = torch.optim.Adam([codec.entropy.factorized.quantiles], lr=1e-2)
    images = [synthetic_image(crop * 2, crop * 2, seed=s) for s in range(2)]
    for step in range(steps):
        batch = torch.stack([img[:, (step * 7) % crop :][:, :crop, (step * 5) % crop :][:, :, :crop] for img in images])
        out = codec(batch)
        loss = out.bits.mean() / crop**2 + codec.lmbda * 255**2 * torch.mean((out.x_hat - batch) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        aux_opt.zero_grad()
        codec.aux_loss().backward()
        aux_opt.step()
    aux_opt = torch.optim.Adam([codec.entropy.factorized.quantiles], lr=0.1)
    for _ in range(300):
        aux_opt.zero_grad()
        codec.aux_loss().backward()
        aux_opt.step()
    return codec.eval()
