"""Latent overfitting (LOF): the encoder fits the latent of one image to the model's own RD cost.

The networks are frozen; only ``y`` moves, with Adam, on ``R(y~) + lambda * D(x, g_s(y~))`` where ``y~`` uses
additive noise for the rate during the first half of the run and straight-through rounding after. Every
``check_every`` steps the *true* cost is measured — real entropy coding with the fixed-point context network
and the 8-bit reconstruction — and the best iterate is kept; the starting latent is the first candidate, so
LOF never returns something worse than no LOF. The decoder is untouched: the result is an ordinary stream.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor
from tqdm.auto import tqdm

from .image_io import to_uint8
from .model.losses import rd_loss
from .model.msp import Gains

if TYPE_CHECKING:
    from .codec import MSPCodec

NOISE_SEED = 0
LOF_LR = 0.01  # Adam learning rate of the latent: the default of every LOF entry point (docs/lof.md)


@dataclass
class LOFResult:
    """The best latent found and the true costs (bpp + lambda * distortion, header excluded)."""

    y: Tensor
    initial_cost: float
    best_cost: float
    steps: int
    seconds: float


def true_cost(codec: "MSPCodec", x: Tensor, y: Tensor, quality: float) -> float:
    """RD cost of really coding ``y``: substream bits per pixel + lambda * distortion of the 8-bit output."""
    height, width = x.shape[-2:]
    with torch.no_grad():
        y_hat, substreams = codec.encode_latent(y, quality)
        x_hat = to_uint8(codec.synthesize(y_hat, height, width, quality)).float()[None] / 255
        bits = torch.tensor([8.0 * sum(map(len, substreams))])
        return rd_loss(bits, x_hat, x, metric=codec.metric, lmbda=codec.lmbda_at(quality))["loss"].item()


def overfit_latent(codec: "MSPCodec", x: Tensor, y: Tensor, *, quality: float, steps: int, lr: float = LOF_LR,
                   seconds: float | None = None, check_every: int = 10, progress: bool = False) -> LOFResult:
    """Optimise the gained latent ``y`` (1, C, h, w) of image ``x`` (1, 3, H, W) at ``quality``; see the module
    docstring."""
    start = time.perf_counter()
    lmbda = codec.lmbda_at(quality)
    with torch.inference_mode(False):  # tensors usable by autograd even when called under inference mode
        x, y = x.clone(), y.detach().clone()
        gains, inverse_gain = codec.coding_gains(quality)
        gains = Gains(gains.gain.float(), gains.log_gain.float(),
                      None if gains.feature is None else gains.feature.float())
        inverse_gain = inverse_gain.float()
    best_y, best_cost = y, true_cost(codec, x, y, quality)
    initial_cost = best_cost
    with torch.inference_mode(False):
        latent = y.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([latent], lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(steps, 1), eta_min=lr / 10)
    frozen = [p for p in codec.parameters() if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    height, width = x.shape[-2:]
    done = 0
    devices = [x.device] if x.device.type == "cuda" else []
    try:
        # A private, seeded random stream for the rate noise: the same image always gives the same stream,
        # and the caller's random state is left as it was.
        with torch.random.fork_rng(devices=devices), torch.inference_mode(False), torch.enable_grad(), \
                tqdm(total=steps, desc="LOF", disable=not progress, leave=False) as bar:
            torch.manual_seed(NOISE_SEED)
            for done in range(1, steps + 1):
                out = codec.estimate(latent, gains, inverse_gain, (height, width), noise=done <= steps // 2)
                loss = rd_loss(out.bits, out.x_hat, x, metric=codec.metric, lmbda=lmbda)["loss"]
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                bar.update()
                out_of_time = seconds is not None and time.perf_counter() - start > seconds
                if done % check_every == 0 or done == steps or out_of_time:
                    cost = true_cost(codec, x, latent.detach(), quality)
                    if cost < best_cost:
                        best_y, best_cost = latent.detach().clone(), cost
                    bar.set_postfix(cost=f"{best_cost:.4f}")
                if out_of_time:
                    break
    finally:
        for p in frozen:
            p.requires_grad_(True)
    return LOFResult(best_y, initial_cost, best_cost, done, time.perf_counter() - start)
