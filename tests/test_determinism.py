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

import numpy as np
import pytest
import torch

from lic_zoo.coding import bitstream
from lic_zoo.image_io import to_uint8
from lic_zoo.model.transforms import latent_shape
from lic_zoo.zoo import load_local
from lic_zoo.zoo.hub import save_pretrained

from codec_helpers import synthetic_image

DECODE_SCRIPT = """
import hashlib, sys, numpy, torch
folder, threads, mkldnn, layout, dtype, tests_dir = sys.argv[1:]
torch.set_num_threads(int(threads))
torch.backends.mkldnn.enabled = mkldnn == "1"
from lic_zoo.image_io import to_uint8
from lic_zoo.zoo import load_local
sys.path.insert(0, tests_dir)
from test_determinism import decoded_latent
codec = load_local(folder + "/weights").to(getattr(torch, dtype))
if layout == "channels_last":
    codec = codec.to(memory_format=torch.channels_last)
data = open(folder + "/image.lic", "rb").read()
numpy.save(folder + f"/pixels-{threads}{mkldnn}{layout}{dtype}.npy", to_uint8(codec.decompress(data)).numpy())
print(hashlib.sha256(decoded_latent(codec, data)).hexdigest())
"""


def decoded_latent(codec, data: bytes) -> bytes:
    header, reader = bitstream.read_header(data)
    substreams = bitstream.read_substreams(reader, codec.profile.scales + 1)
    with torch.no_grad():
        return codec.decode_latent(substreams, latent_shape(header.height, header.width), header.quality).numpy().tobytes()


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
    return folder, latent, to_uint8(result.x_hat).numpy()


# (threads, oneDNN, memory layout, transform dtype); the first two setups are the encoder's own.
SETUPS = [(1, "1", "contiguous", "float32"), (2, "1", "contiguous", "float32"), (1, "0", "contiguous", "float32"),
          (2, "1", "channels_last", "float32"), (2, "1", "contiguous", "float64")]


@pytest.mark.parametrize("threads,mkldnn,layout,dtype", SETUPS)
def test_decode_in_another_process(encoded, threads, mkldnn, layout, dtype):
    folder, latent, pixels = encoded
    out = subprocess.run(
        [sys.executable, "-c", DECODE_SCRIPT, str(folder), str(threads), mkldnn, layout, dtype,
         str(Path(__file__).parent)],
        capture_output=True, text=True,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == latent  # the latent never depends on the numerical setup
    decoded = np.load(folder / f"pixels-{threads}{mkldnn}{layout}{dtype}.npy")
    if (mkldnn, layout, dtype) == ("1", "contiguous", "float32"):
        assert np.array_equal(decoded, pixels)
    else:  # other float kernels: pixels may differ by rounding
        assert np.abs(decoded.astype(int) - pixels).max() <= 1
