"""Small codec utilities shared by tests: brief training and exported weights."""
from __future__ import annotations

import torch

from lic_zoo import MSPCodec

from conftest import synthetic_image


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
