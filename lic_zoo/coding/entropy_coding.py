"""Real entropy coding with constriction's ANS coder.

Two model families, both categorical tables: one quantised zero-mean Gaussian per entry of the coding-time
scale table for the context-coded steps, and per-channel tables for the factorised coarsest scale. Within a
step, symbols are coded grouped by scale index (stably, so both sides know the order from the scales alone),
each group with its one fixed table: table lookups instead of evaluating and inverting a Gaussian per symbol
(how much faster: docs/speed.md, "Third session"). Symbols are clamped to the coded range by the caller, so the coder never sees an
out-of-range value.
"""
from __future__ import annotations

import constriction
import numpy as np

from ..errors import CorruptStreamError
from ..model.entropy_models import SCALE_LEVELS, gaussian_pmf_table

GAUSSIAN_HALF_RANGE = 512  # residuals round(y - mean) are coded in [-512, 512]
FACTORIZED_HALF_RANGE = 512

_GAUSSIANS = [  # one table per coding scale
    constriction.stream.model.Categorical(row, perfect=False) for row in gaussian_pmf_table(GAUSSIAN_HALF_RANGE)
]
_CATEGORICAL = constriction.stream.model.Categorical(perfect=False)
assert SCALE_LEVELS <= 256, "scale indices are sorted as 8-bit keys"


def _groups_by_scale(scale_indices: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """(scale index, positions) of a step's elements, scale indices ascending, positions in C-order."""
    flat = scale_indices.ravel().astype(np.uint8)  # 8-bit keys: numpy's stable sort is then a radix sort
    order = np.argsort(flat, kind="stable")
    bounds = np.flatnonzero(np.diff(flat[order])) + 1
    return [(int(flat[group[0]]), group) for group in np.split(order, bounds) if group.size]


def _repeat_row(row: np.ndarray, n: int) -> np.ndarray:
    """``row`` as the probabilities of each of ``n`` symbols: (n, L)."""
    return np.repeat(row[None], n, axis=0)


class Encoder:
    """Collects the steps of one substream and writes them so that :class:`Decoder` reads them in order."""

    def __init__(self) -> None:
        self._pending: list[tuple] = []

    def gaussian(self, symbols: np.ndarray, scale_indices: np.ndarray) -> None:
        flat = symbols.astype(np.int32).ravel() + GAUSSIAN_HALF_RANGE
        for scale, positions in _groups_by_scale(scale_indices):
            self._pending.append((flat[positions], _GAUSSIANS[scale]))

    def factorized(self, symbols: np.ndarray, pmf: np.ndarray) -> None:
        """Code (C, n) symbols, row c with the probabilities ``pmf[c]``, channel after channel."""
        for row, channel in zip(pmf, symbols.astype(np.int32).reshape(pmf.shape[0], -1)):
            self._pending.append((channel, _CATEGORICAL, _repeat_row(row, channel.size)))

    def finish(self) -> bytes:
        coder = constriction.stream.stack.AnsCoder()
        for symbols, *model in reversed(self._pending):  # ANS is a stack: last in, first out
            if symbols.size:
                coder.encode_reverse(symbols, *model)
        return coder.get_compressed().astype("<u4").tobytes()


class Decoder:
    """Reads the steps of one substream in the order :class:`Encoder` collected them."""

    def __init__(self, data: bytes) -> None:
        if len(data) % 4:
            raise CorruptStreamError("substream length is not a multiple of 4 bytes")
        words = np.frombuffer(data, dtype="<u4").astype(np.uint32)
        try:
            self._coder = constriction.stream.stack.AnsCoder(words)
        except Exception as exc:  # constriction rejects e.g. a zero final word
            raise CorruptStreamError(f"invalid substream: {exc}") from None

    def gaussian(self, scale_indices: np.ndarray) -> np.ndarray:
        symbols = np.empty(scale_indices.size, dtype=np.int32)
        for scale, positions in _groups_by_scale(scale_indices):
            symbols[positions] = self._decode(positions.size, _GAUSSIANS[scale], positions.size)
        return symbols - GAUSSIAN_HALF_RANGE

    def factorized(self, pmf: np.ndarray, n: int) -> np.ndarray:
        """The (C, n) symbols of :meth:`Encoder.factorized`. The probability rows are built one channel at a time,
        so a stream claiming a huge image fails on its short substream before much memory is spent."""
        return np.stack([self._decode(n, _CATEGORICAL, _repeat_row(row, n)) for row in pmf])

    def _decode(self, n: int, *model) -> np.ndarray:
        if n == 0:
            return np.zeros(0, dtype=np.int32)
        # Every symbol of a real stream moves the ANS state away from the empty one (no probability is 1), so
        # a coder that is empty while symbols remain was cut short or belongs to a smaller image.
        if self._coder.is_empty():
            raise CorruptStreamError("substream ends early: it holds fewer symbols than the image needs")
        try:
            return np.asarray(self._coder.decode(*model), dtype=np.int32)
        except Exception as exc:
            raise CorruptStreamError(f"entropy decoding failed: {exc}") from None

    def check_exhausted(self) -> None:
        """A well-formed substream holds exactly the symbols decoded from it."""
        if not self._coder.is_empty():
            raise CorruptStreamError("substream has trailing data")
