"""Shared fixtures: isolated caches, small synthetic images, tiny trained codecs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from huggingface_hub import constants


CLOSED_ENDPOINT = "http://127.0.0.1:9"  # nothing listens on the discard port: a stray request fails at once


@pytest.fixture(autouse=True)
def isolated_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test: private HF and torch caches, no token, online, Xet off, no network; returns the HF cache."""
    home = tmp_path / "hf-home"
    paths = {"HF_HOME": home, "HF_HUB_CACHE": home / "hub", "HF_XET_CACHE": home / "xet",
             "HF_TOKEN_PATH": home / "token", "TORCH_HOME": tmp_path / "torch"}
    for name, path in paths.items():
        monkeypatch.setenv(name, str(path))
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "HF_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    # huggingface_hub reads its environment once, at import: replace the values it holds as well.
    for name in ("HF_HOME", "HF_HUB_CACHE", "HF_XET_CACHE", "HF_TOKEN_PATH"):
        monkeypatch.setattr(constants, name, str(paths[name]))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(home / "stored_tokens"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)  # upload through LFS, which the test Hub speaks
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)  # else it looks up agent names on the Hub
    monkeypatch.setattr(constants, "ENDPOINT", CLOSED_ENDPOINT)
    url_template = CLOSED_ENDPOINT + "/{repo_id}/resolve/{revision}/{filename}"
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", url_template)
    return paths["HF_HUB_CACHE"]


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


@pytest.fixture(scope="session")
def trained_codec():
    """``trained_codec(profile)``: a briefly trained codec, trained once per session (do not modify it)."""
    from codec_helpers import briefly_trained

    cache = {}

    def get(profile: str):
        if profile not in cache:
            cache[profile] = briefly_trained(profile)
        return cache[profile]

    return get
