"""The .lic container: a self-describing, versioned, checksummed file per image.

Layout (all integers unsigned; "varint" is LEB128):

    magic        4 bytes  b"\\x89LIC"
    version      1 byte   4 (3 is still read)
    model        1 byte length + ASCII zoo name (e.g. "msp-lite")
    metric       1 byte   code in METRIC_CODES (frozen: part of the format, not of the zoo table)
    quality      varint   quality in units of 1/1000 (version 3: 1 byte, an integer quality)
    digest       8 bytes  first bytes of the SHA-256 of the weights (see lic_zoo.coding.digest)
    height       varint   original image height in pixels
    width        varint   original image width in pixels
    layout       1 byte   0 = RGB, 1 = grayscale (L)
    lengths      varint per substream (their number follows from the model: scales + 1)
    substreams   concatenated ANS substreams: factorised scale, then one per context scale, coarse to fine
    crc32        4 bytes  little-endian CRC-32 of everything before it

bpp is always counted on the whole file.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from ..errors import CorruptStreamError, LimitExceededError
from ..model.rate import quality_from_units, quality_units

MAGIC = b"\x89LIC"
# 4: fractional qualities (varint, 1/1000 units); 3: Gaussian steps coded with per-scale tables, grouped by scale;
# 2: 12 activation bits (1 had 8)
VERSION = 4
READABLE_VERSIONS = (3, 4)
METRIC_CODES = ("mse", "ms-ssim")  # the metric byte indexes this tuple; append only
DIGEST_BYTES = 8
LAYOUTS = ("RGB", "L")
_MAX_VARINT_BYTES = 5  # values < 2**35: more than any field may hold


@dataclass(frozen=True)
class Limits:
    """Bounds checked before anything is allocated. Raise them deliberately for huge images."""

    max_pixels: int = 100_000_000
    max_side: int = 65_535

    def check(self, height: int, width: int) -> None:
        if height < 1 or width < 1:
            raise LimitExceededError(f"image size {width}x{height} is empty")
        if height > self.max_side or width > self.max_side:
            raise LimitExceededError(f"image side {max(height, width)} exceeds the limit of {self.max_side} pixels")
        if height * width > self.max_pixels:
            raise LimitExceededError(
                f"image of {width}x{height} = {height * width} pixels exceeds the limit of {self.max_pixels}"
            )


@dataclass(frozen=True)
class Header:
    model: str
    metric: str
    quality: float  # on the 1/1000 grid (an int for integer qualities)
    digest: bytes
    height: int
    width: int
    layout: str = "RGB"


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


class _Reader:
    def __init__(self, data: bytes, end: int) -> None:
        self.data, self.pos, self.end = data, 0, end

    def take(self, n: int) -> bytes:
        if self.pos + n > self.end:
            raise CorruptStreamError("stream is truncated (header ends early)")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def byte(self) -> int:
        return self.take(1)[0]

    def varint(self) -> int:
        value = 0
        for i in range(_MAX_VARINT_BYTES):
            b = self.byte()
            value |= (b & 0x7F) << (7 * i)
            if not b & 0x80:
                if b == 0 and i:  # a zero last byte adds nothing: one value, one encoding
                    raise CorruptStreamError("malformed length field (over-long varint)")
                return value
        raise CorruptStreamError("malformed length field")


def pack(header: Header, substreams: list[bytes]) -> bytes:
    """Serialise a header and its substreams into a complete .lic file."""
    name = header.model.encode("ascii")
    if len(header.digest) != DIGEST_BYTES:
        raise ValueError("digest must be 8 bytes")
    parts = [
        MAGIC, bytes([VERSION, len(name)]), name,
        bytes([METRIC_CODES.index(header.metric)]), _varint(quality_units(header.quality)), header.digest,
        _varint(header.height), _varint(header.width), bytes([LAYOUTS.index(header.layout)]),
        *(_varint(len(s)) for s in substreams), *substreams,
    ]
    body = b"".join(parts)
    return body + struct.pack("<I", zlib.crc32(body))


def read_header(data: bytes, limits: Limits = Limits()) -> tuple[Header, _Reader]:
    """Check magic, version and checksum, then parse the header. Returns the header and a reader at the lengths."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
        raise CorruptStreamError("not a lic_zoo stream (bad magic bytes)")
    if len(data) < len(MAGIC) + 1 + 4:
        raise CorruptStreamError("stream is truncated")
    version = data[len(MAGIC)]
    if version not in READABLE_VERSIONS:
        raise CorruptStreamError(f"unsupported stream format version {version} (this lic_zoo reads "
                                 f"{', '.join(map(str, READABLE_VERSIONS))})")
    (stored_crc,) = struct.unpack("<I", data[-4:])
    if zlib.crc32(data[:-4]) != stored_crc:
        raise CorruptStreamError("checksum mismatch: the stream is corrupted or truncated")
    reader = _Reader(data, len(data) - 4)
    reader.take(len(MAGIC) + 1)
    try:
        model = reader.take(reader.byte()).decode("ascii")
    except UnicodeDecodeError:
        raise CorruptStreamError("model name is not ASCII") from None
    metric_index = reader.byte()
    if metric_index >= len(METRIC_CODES):
        raise CorruptStreamError(f"unknown metric index {metric_index}")
    if version == 3:
        quality: float = reader.byte()
    else:
        quality = quality_from_units(reader.varint())
    digest = reader.take(DIGEST_BYTES)
    height, width = reader.varint(), reader.varint()
    limits.check(height, width)
    layout_index = reader.byte()
    if layout_index >= len(LAYOUTS):
        raise CorruptStreamError(f"unknown channel layout {layout_index}")
    return Header(model, METRIC_CODES[metric_index], quality, digest, height, width, LAYOUTS[layout_index]), reader


def read_substreams(reader: _Reader, count: int) -> list[bytes]:
    """Read ``count`` substream lengths and slices; their total must fill the payload exactly."""
    lengths = [reader.varint() for _ in range(count)]
    if reader.pos + sum(lengths) != reader.end:
        raise CorruptStreamError("substream lengths do not match the payload size")
    return [reader.take(n) for n in lengths]
