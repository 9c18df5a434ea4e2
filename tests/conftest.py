"""Shared fixtures: isolated caches, tiny trained codecs (helpers that tests import live in codec_helpers.py)."""
from __future__ import annotations

from pathlib import Path

import pytest
from huggingface_hub import constants

from codec_helpers import CLOSED_ENDPOINT, briefly_trained


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


@pytest.fixture(scope="session")
def trained_codec():
    """``trained_codec(profile)``: a briefly trained codec, trained once per session (do not modify it)."""
    cache = {}

    def get(profile: str):
        if profile not in cache:
            cache[profile] = briefly_trained(profile)
        return cache[profile]

    return get
