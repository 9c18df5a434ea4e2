"""Files written by earlier releases still decode, bit for bit, with the weights that made them."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import lic_zoo
from lic_zoo.coding import bitstream
from lic_zoo.image_io import to_uint8

DATA = Path(__file__).parent / "data"


def test_a_format_3_stream_of_the_fixed_rate_zoo_decodes_to_what_its_encoder_saw():
    """Written by the release before variable rate (stream format 3, msp-lite q3, default encoder with LOF)."""
    data = (DATA / "format3-msp-lite-q3.lic").read_bytes()
    header, _ = bitstream.read_header(data)
    assert data[len(bitstream.MAGIC)] == 3 and (header.model, header.quality) == ("msp-lite", 3)
    expected = np.asarray(Image.open(DATA / "format3-msp-lite-q3.png"))
    decoded = to_uint8(lic_zoo.decode(data)).permute(1, 2, 0).numpy()
    assert np.array_equal(decoded, expected)


@pytest.mark.parametrize("name, quality", [
    # session 7's default (msp-lite-mse over qualities 0-8, now msp-lite-mse-v1), default encoder with LOF
    ("format4-msp-lite-v1-q2.5", 2.5),
    # sessions 9-10's default (vr8, qualities 0-9, now msp-lite-mse-v2), default encoder with LOF, a 96x64 crop
    # of dev03.png
    ("format4-msp-lite-v2-q6.5", 6.5),
])
def test_a_stream_of_an_earlier_variable_rate_default_decodes_with_its_weights(name: str, quality: float):
    """The default msp-lite is now another network, and the digest in the header finds the old one."""
    data = (DATA / f"{name}.lic").read_bytes()
    header, _ = bitstream.read_header(data)
    assert data[len(bitstream.MAGIC)] == 4 and (header.model, header.quality) == ("msp-lite", quality)
    assert lic_zoo.load("msp-lite", quality=quality).weights_digest() != header.digest
    expected = np.asarray(Image.open(DATA / f"{name}.png"))
    decoded = to_uint8(lic_zoo.decode(data)).permute(1, 2, 0).numpy()
    assert np.array_equal(decoded, expected)
