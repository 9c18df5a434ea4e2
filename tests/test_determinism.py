"""Decoding is deterministic: the same bytes give the same pixels in other processes and thread counts."""
from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest
import torch

from lic_zoo.hub import save_pretrained
from lic_zoo.image_io import to_uint8
from lic_zoo.zoo import load_local

from codec_helpers import briefly_trained
from conftest import synthetic_image

DECODE_SCRIPT = """
import hashlib, sys, torch
torch.set_num_threads(int(sys.argv[3]))
torch.backends.mkldnn.enabled = sys.argv[4] == "1"
from lic_zoo.image_io import to_uint8
from lic_zoo.zoo import load_local
codec = load_local(sys.argv[1])
x_hat = codec.decompress(open(sys.argv[2], "rb").read())
print(hashlib.sha256(to_uint8(x_hat).numpy().tobytes()).hexdigest())
"""


@pytest.fixture(scope="module")
def encoded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("determinism")
    codec = briefly_trained("lite", steps=10)
    save_pretrained(codec.state_dict(), codec.config, folder / "weights")
    codec = load_local(folder / "weights")
    torch.set_num_threads(2)
    result = codec.encode(synthetic_image(200, 328, seed=9))
    (folder / "image.lic").write_bytes(result.data)
    return folder, hashlib.sha256(to_uint8(result.x_hat).numpy().tobytes()).hexdigest()


@pytest.mark.parametrize("threads,mkldnn", [(1, "1"), (2, "1"), (1, "0")])
def test_decode_in_another_process(encoded, threads, mkldnn):
    folder, expected = encoded
    out = subprocess.run(
        [sys.executable, "-c", DECODE_SCRIPT, str(folder / "weights"), str(folder / "image.lic"), str(threads), mkldnn],
        capture_output=True, text=True, check=True,
    )
    assert out.stdout.strip() == expected
