"""Huge images: tiled transforms give the untiled bitstream and pixels; size limits are enforced up front."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from lic_zoo import MSPCodec
from lic_zoo.coding.bitstream import Limits
from lic_zoo.errors import LimitExceededError
from lic_zoo.image_io import open_image, to_uint8
from lic_zoo.model.tiling import Tiling

from codec_helpers import synthetic_image
from test_cli import one_line_error, run, weights  # noqa: F401  (fixture)

SMALL_TILES = Tiling(tile=16, halo=8, min_pixels=0)


@pytest.fixture(scope="module")
def extra_codec():
    torch.manual_seed(3)
    return MSPCodec("extra").eval()


def test_small_tiles_cover_the_image_once():
    seen = torch.zeros(70, 33, dtype=torch.int64)
    for rows, cols, win_rows, win_cols in SMALL_TILES.cores(70, 33):
        seen[rows, cols] += 1
        assert win_rows.start <= rows.start and rows.stop <= win_rows.stop
        assert rows.stop - rows.start >= 8 and cols.stop - cols.start >= 8  # even split, no sliver
    assert seen.eq(1).all()
    assert len(SMALL_TILES.cores(70, 33)) == 5 * 3
    with pytest.raises(ValueError, match="tile must be >= 16"):
        Tiling(tile=8)


@pytest.mark.parametrize("profile", ["lite", "extra"])
def test_tiled_equals_untiled(profile, trained_codec, extra_codec):
    codec = trained_codec("lite") if profile == "lite" else extra_codec
    image = synthetic_image(400, 640, seed=4)  # latent 25 x 40: 2 x 3 tiles
    untiled = codec.encode(image, lof_steps=0)
    codec.tiling = SMALL_TILES
    try:
        tiled = codec.encode(image, lof_steps=0)
        decoded = codec.decompress(untiled.data)
    finally:
        codec.tiling = Tiling()
    assert tiled.data == untiled.data
    assert torch.equal(to_uint8(decoded), to_uint8(untiled.x_hat))
    assert torch.equal(to_uint8(tiled.x_hat), to_uint8(untiled.x_hat))


def test_halo_must_cover_the_receptive_field(extra_codec):
    """The equality above is not trivial: with too small a halo the latent changes."""
    x = synthetic_image(400, 640, seed=4)[None]
    with torch.no_grad():
        untiled = extra_codec.analyse(x)
        extra_codec.tiling = Tiling(tile=16, halo=1, min_pixels=0)
        try:
            tiled = extra_codec.analyse(x)
        finally:
            extra_codec.tiling = Tiling()
    assert not torch.equal(untiled, tiled)


def test_decompress_limits(trained_codec):
    codec = trained_codec("lite")
    data = codec.compress(synthetic_image(40, 60))
    with pytest.raises(LimitExceededError, match="exceeds the limit of 1000"):
        codec.decompress(data, limits=Limits(max_pixels=1000))
    with pytest.raises(LimitExceededError, match="side 60"):
        codec.decompress(data, limits=Limits(max_side=50))
    assert codec.decompress(data, limits=Limits(max_pixels=2400)).shape == (3, 40, 60)


def test_open_image_checks_size_before_decoding(tmp_path):
    path = tmp_path / "wide.png"
    Image.fromarray(np.zeros((10, 300, 3), np.uint8)).save(path)
    with pytest.raises(LimitExceededError):
        open_image(path, Limits(max_side=256))
    assert open_image(path).size == (300, 10)


def test_cli_limits(tmp_path, weights, capsys):  # noqa: F811
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(tmp_path / "in.png")
    code = run("compress", tmp_path / "in.png", tmp_path / "out.lic", "--weights", weights, "--max-pixels", 1000)
    assert "exceeds the limit of 1000" in one_line_error(capsys, code)
    assert not (tmp_path / "out.lic").exists()
    assert run("compress", tmp_path / "in.png", tmp_path / "out.lic", "--weights", weights) == 0
    capsys.readouterr()
    code = run("decompress", tmp_path / "out.lic", tmp_path / "out.png", "--weights", weights, "--max-side", 50)
    assert "exceeds the limit of 50" in one_line_error(capsys, code)
    assert not (tmp_path / "out.png").exists()
