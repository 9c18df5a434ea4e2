"""Files written by earlier releases still decode, bit for bit, with the weights that made them."""
from __future__ import annotations

from pathlib import Path

import numpy as np
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
