"""Decoding is deterministic: the same bytes give the same latent and pixels in other processes and thread counts.

Pixels must match exactly across processes and 1 or 2 threads. With oneDNN (MKL-DNN) switched off the float
transforms round differently, so only the decoded latent must match there (it always must: the context
network runs in exact fixed point).
"""
from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lic_zoo import bitstream
from lic_zoo.hub import save_pretrained
from lic_zoo.image_io import to_uint8
from lic_zoo.transforms import latent_shape
from lic_zoo.zoo import load_local

from conftest import synthetic_image

DECODE_SCRIPT = """
import hashlib, sys, torch
torch.set_num_threads(int(sys.argv[3]))
torch.backends.mkldnn.enabled = sys.argv[4] == "1"
from lic_zoo.image_io import to_uint8
from lic_zoo.zoo import load_local
sys.path.insert(0, sys.argv[5])
from test_determinism import decoded_latent
codec = load_local(sys.argv[1])
data = open(sys.argv[2], "rb").read()
pixels = to_uint8(codec.decompress(data)).numpy().tobytes()
print(hashlib.sha256(decoded_latent(codec, data)).hexdigest(), hashlib.sha256(pixels).hexdigest())
"""


def decoded_latent(codec, data: bytes) -> bytes:
    header, reader = bitstream.read_header(data)
    substreams = bitstream.read_substreams(reader, codec.profile.scales + 1)
    with torch.no_grad():
        return codec._decode_latent(substreams, latent_shape(header.height, header.width)).numpy().tobytes()


@pytest.fixture(scope="module")
def encoded(tmp_path_factory, trained_codec):
    folder = tmp_path_factory.mktemp("determinism")
    codec = trained_codec("lite")
    save_pretrained(codec.state_dict(), codec.config, folder / "weights")
    codec = load_local(folder / "weights")
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        result = codec.encode(synthetic_image(200, 328, seed=9))
    finally:
        torch.set_num_threads(threads)
    (folder / "image.lic").write_bytes(result.data)
    latent = hashlib.sha256(decoded_latent(codec, result.data)).hexdigest()
    return folder, latent, hashlib.sha256(to_uint8(result.x_hat).numpy().tobytes()).hexdigest()


@pytest.mark.parametrize("threads,mkldnn", [(1, "1"), (2, "1"), (1, "0")])
def test_decode_in_another_process(encoded, threads, mkldnn):
    folder, latent, pixels = encoded
    out = subprocess.run(
        [sys.executable, "-c", DECODE_SCRIPT, str(folder / "weights"), str(folder / "image.lic"), str(threads),
         mkldnn, str(Path(__file__).parent)],
        capture_output=True, text=True, check=True,
    )
    got_latent, got_pixels = out.stdout.split()
    assert got_latent == latent
    if mkldnn == "1":
        assert got_pixels == pixels
