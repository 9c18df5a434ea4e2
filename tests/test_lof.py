"""Latent overfitting: an ordinary stream, never worse than no LOF, networks untouched."""
from __future__ import annotations

import pytest
import torch

from lic_zoo.lof import overfit_latent, true_cost
from lic_zoo.transforms import pad_to_stride

from conftest import synthetic_image


@pytest.fixture(scope="module")
def codec(trained_codec):
    return trained_codec("lite")


def test_lof_stream_decodes_with_the_unchanged_decoder(codec):
    image = synthetic_image(40, 72, seed=3)
    weights = {k: v.clone() for k, v in codec.state_dict().items()}
    result = codec.encode(image, lof_steps=12)
    assert torch.equal(codec.decompress(result.data), result.x_hat)
    assert all(torch.equal(weights[k], v) for k, v in codec.state_dict().items())  # networks frozen
    assert all(p.requires_grad for p in codec.parameters())  # and given back trainable


def test_lof_never_worse_and_usually_better(codec):
    x = synthetic_image(64, 96, seed=4)[None]
    with torch.no_grad():
        y = codec.g_a(pad_to_stride(x))
    result = overfit_latent(codec, x, y, steps=40, lr=0.1, check_every=5)
    assert result.best_cost <= result.initial_cost == pytest.approx(true_cost(codec, x, y))
    assert result.best_cost == pytest.approx(true_cost(codec, x, result.y))
    assert result.best_cost < result.initial_cost  # 40 steps on a briefly trained model do find a better latent


def test_lof_time_budget(codec):
    x = synthetic_image(32, 32)[None]
    with torch.no_grad():
        y = codec.g_a(pad_to_stride(x))
    result = overfit_latent(codec, x, y, steps=10_000, seconds=0.5)
    assert result.steps < 10_000 and result.seconds < 30
