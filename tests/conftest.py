"""Shared fixtures: isolated caches, small synthetic images, tiny trained codecs."""
from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def isolated_caches(tmp_path_factory, monkeypatch):
    """Point every cache a test could touch at a temporary folder; never use the network."""
    root = tmp_path_factory.mktemp("caches")
    monkeypatch.setenv("HF_HOME", str(root / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(root / "hf" / "hub"))
    monkeypatch.setenv("TORCH_HOME", str(root / "torch"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")


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
