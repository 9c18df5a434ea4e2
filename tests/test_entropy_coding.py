"""The entropy coder's Gaussian tables: portable arithmetic, pinned contents, grouped coding round trips."""
from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest

from lic_zoo.coding.entropy_coding import GAUSSIAN_HALF_RANGE, Decoder, Encoder
from lic_zoo.errors import CorruptStreamError
from lic_zoo.model.entropy_models import SCALE_LEVELS, gaussian_pmf_table, portable_erfc, portable_exp, scale_table

# The tables define the stream format (version 3): a change here breaks every stream written before it.
PINNED_TABLES_SHA256 = "a3d14850a9769940d7747261dd84847e6a155cafe3ca6a552c68b90b4712d67c"
PINNED_SCALES_SHA256 = "735e8c69ecc1c2330cb56a729d5d539eba4e0b22528e3eefb5de83dfa0721139"


def test_portable_exp_and_erfc_are_accurate():
    x = np.linspace(-700.0, 700.0, 20001)
    assert np.max(np.abs(portable_exp(x) / np.exp(x) - 1)) < 1e-15
    z = np.linspace(-6.0, 26.0, 20001)
    reference = np.array([math.erfc(v) for v in z])
    assert np.max(np.abs(portable_erfc(z) / reference - 1)) < 1.2e-7


def test_coding_tables_are_pinned():
    """Bit-identical tables on every platform: basic IEEE arithmetic only, checked against a digest."""
    assert hashlib.sha256(scale_table().tobytes()).hexdigest() == PINNED_SCALES_SHA256
    tables = gaussian_pmf_table(GAUSSIAN_HALF_RANGE)
    assert hashlib.sha256(tables.tobytes()).hexdigest() == PINNED_TABLES_SHA256
    assert tables.shape == (SCALE_LEVELS, 2 * GAUSSIAN_HALF_RANGE + 1)
    np.testing.assert_allclose(tables.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_array_equal(tables, tables[:, ::-1])  # symmetric around 0


def test_tables_follow_the_gaussian():
    tables = gaussian_pmf_table(GAUSSIAN_HALF_RANGE)
    for index in (0, 40, 90):
        s = scale_table()[index]
        for k in (0, 1, 3):
            exact = 0.5 * (math.erfc((k - 0.5) / (s * math.sqrt(2))) - math.erfc((k + 0.5) / (s * math.sqrt(2))))
            assert tables[index, GAUSSIAN_HALF_RANGE + k] == pytest.approx(exact, rel=1e-4, abs=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_grouped_gaussian_steps_round_trip(seed):
    """Several steps per substream, scales in any order, symbols up to the range ends at the smallest scale."""
    rng = np.random.default_rng(seed)
    steps = []
    for size in (0, 1, 7, 500, 3000):
        indices = rng.integers(0, SCALE_LEVELS, size)
        symbols = np.round(rng.normal(0.0, scale_table()[indices])).clip(-GAUSSIAN_HALF_RANGE, GAUSSIAN_HALF_RANGE)
        if size > 1:
            symbols[:2] = (-GAUSSIAN_HALF_RANGE, GAUSSIAN_HALF_RANGE)
            indices[:2] = 0
        steps.append((symbols.astype(np.int32).reshape(1, -1), indices.reshape(1, -1)))
    encoder = Encoder()
    for symbols, indices in steps:
        encoder.gaussian(symbols, indices)
    decoder = Decoder(encoder.finish())
    for symbols, indices in steps:
        np.testing.assert_array_equal(decoder.gaussian(indices), symbols.ravel())
    decoder.check_exhausted()


def test_decoding_with_other_scales_is_caught_or_differs():
    rng = np.random.default_rng(9)
    indices = rng.integers(20, 60, 2000)
    symbols = np.round(rng.normal(0.0, scale_table()[indices])).astype(np.int32)
    encoder = Encoder()
    encoder.gaussian(symbols, indices)
    decoder = Decoder(encoder.finish())
    try:
        decoded = decoder.gaussian(np.roll(indices, 1))
        decoder.check_exhausted()
    except CorruptStreamError:
        return
    assert not np.array_equal(decoded, symbols)
