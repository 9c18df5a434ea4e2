"""Every file lic_zoo writes gets the mode a plain open() gives: 0o666 less the umask (not a temp file's 0o600)."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lic_zoo import MSPCodec
from lic_zoo.cli import main
from lic_zoo.zoo.hub import save_pretrained, write_model_card

UMASK = 0o027  # not the usual 0o022, so that a mode that ignores the umask shows
EXPECTED = 0o666 & ~UMASK


@pytest.fixture
def umask():
    previous = os.umask(UMASK)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_every_writer_applies_the_umask(tmp_path, umask):
    torch.manual_seed(0)
    codec = MSPCodec("lite", quality=2)
    weights = save_pretrained(codec.state_dict(), codec.config, tmp_path / "export", model_card="card")
    rgb = np.random.default_rng(0).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "plot-source.png")
    write_model_card(weights, "org/msp-lite-mse-q2", plot=tmp_path / "plot-source.png")
    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(rgb).save(images / "a.png")
    steps = [
        ["compress", images / "a.png", tmp_path / "a.lic", "--weights", weights, "--lof-steps", "0"],
        ["decompress", tmp_path / "a.lic", tmp_path / "a.decoded.png", "--weights", weights],
        ["eval", images, "--codec", "jpeg", "--settings", "50", "--no-progress", "-o", tmp_path / "results"],
        ["plot", tmp_path / "results" / "jpeg.json", "-o", tmp_path / "rd.png"],
    ]
    for argv in steps:
        assert main([str(a) for a in argv]) == 0
    written = [*sorted(weights.iterdir()), tmp_path / "a.lic", tmp_path / "a.decoded.png",
               tmp_path / "results" / "jpeg.json", tmp_path / "results" / "per-image" / "jpeg.json", tmp_path / "rd.png"]
    assert [p.name for p in weights.iterdir()].count("rd-curve.png") == 1
    assert {str(p.relative_to(tmp_path)): oct(mode(p)) for p in written} == \
           {str(p.relative_to(tmp_path)): oct(EXPECTED) for p in written}
