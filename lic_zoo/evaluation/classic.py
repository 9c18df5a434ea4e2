"""Classic image codecs behind one interface, for rate-distortion comparisons.

Each codec is a small class that declares its library, its fixed parameters and its sweep of settings (lowest
rate first, together spanning about 0.1-2 bpp on photographs); :data:`CODECS` maps the command-line name to
the class. Encoders take 8-bit RGB arrays (H, W, 3) and return the complete file that a user would store
(container and headers included), decoders return 8-bit RGB. The libraries are optional
(``pip install lic-zoo[bench]``); :meth:`ClassicCodec.available` says whether one can run here.
"""
from __future__ import annotations

import functools
import importlib.util
import io
import re
import subprocess
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar, NamedTuple

import numpy as np
from PIL import Image, features

from ..errors import CodecUnavailableError, ExternalCodecError

BENCH_HINT = "pip install 'lic-zoo[bench]'"


class ClassicCodec(ABC):
    """A classic codec and its sweep of settings."""

    name: ClassVar[str]  # command-line name and stem of the results files
    label: ClassVar[str]  # legend / JSON "name"
    setting_name: ClassVar[str]
    settings: ClassVar[tuple[float, ...]]  # the sweep, lowest rate first
    params: ClassVar[dict[str, Any]]  # fixed parameters, recorded in the results
    requires: ClassVar[str]  # what to install when it is not available

    @classmethod
    @abstractmethod
    def available(cls) -> bool:
        """Whether the library or binary (with the needed encoder and decoder) is usable here."""

    @classmethod
    @abstractmethod
    def versions(cls) -> dict[str, str]:
        """Versions of the libraries doing the work (call only when available)."""

    @abstractmethod
    def encode(self, rgb: np.ndarray, setting: float) -> bytes:
        """Compress an 8-bit RGB image (H, W, 3) into a complete file."""

    @abstractmethod
    def decode(self, data: bytes, shape: tuple[int, int]) -> np.ndarray:
        """Decompress a file made by :meth:`encode` of an image of ``shape`` (H, W) into 8-bit RGB."""

    @classmethod
    def description(cls) -> str:
        """One line: libraries with versions, fixed parameters and the swept setting."""
        libs = ", ".join(f"{k} {v}" for k, v in cls.versions().items())
        fixed = ", ".join(f"{k}={v}" for k, v in cls.params.items())
        return f"{cls.label}: {libs}; {fixed}; sweep over {cls.setting_name}"


def _has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


# --------------------------------------------------------------------------------------------- Pillow codecs


class PillowCodec(ClassicCodec):
    """A format Pillow writes itself: ``Image.save(buf, format, **{setting_key: setting}, **params)``."""

    format: ClassVar[str]
    feature: ClassVar[str]  # PIL.features name telling whether the codec is compiled in
    library: ClassVar[str]  # PIL.features name giving the underlying library's version
    setting_key: ClassVar[str]
    requires = "Pillow built with this codec (the PyPI wheels are)"

    @classmethod
    def available(cls) -> bool:
        return bool(features.check(cls.feature))

    @classmethod
    def versions(cls) -> dict[str, str]:
        return {"Pillow": Image.__version__, cls.library: str(features.version(cls.library))}

    def encode(self, rgb: np.ndarray, setting: float) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(rgb, "RGB").save(buf, self.format, **{self.setting_key: setting}, **self.params)
        return buf.getvalue()

    def decode(self, data: bytes, shape: tuple[int, int]) -> np.ndarray:
        with Image.open(io.BytesIO(data)) as img:
            return np.asarray(img.convert("RGB"))


class Jpeg(PillowCodec):
    name, label, format, feature, library = "jpeg", "JPEG 4:2:0 (libjpeg-turbo)", "JPEG", "jpg", "libjpeg_turbo"
    setting_name = setting_key = "quality"
    settings = (3, 5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95)
    params = {"subsampling": 2}  # baseline, standard Huffman tables: as CompressAI's PillowCodec


class Jpeg444(Jpeg):
    name, label = "jpeg444", "JPEG 4:4:4 (libjpeg-turbo)"
    params = {"subsampling": 0}


class WebP(PillowCodec):
    name, label, format, feature, library = "webp", "WebP (libwebp)", "WEBP", "webp", "webp"
    setting_name = setting_key = "quality"
    settings = (0, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 100)
    params = {"method": 6}


class Avif(PillowCodec):
    name, label, format, feature, library = "avif", "AVIF 4:4:4 (libaom)", "AVIF", "avif", "avif"
    setting_name = setting_key = "quality"
    settings = (5, 15, 25, 35, 45, 55, 65, 75, 85, 90, 95)
    params = {"subsampling": "4:4:4", "speed": 4, "advanced": {"tune": "psnr"}}


class Jpeg2000(PillowCodec):
    """JPEG 2000 at a fixed Lagrangian trade-off rather than a fixed rate.

    A fixed-rate sweep puts every image at the same bpp, which flatters the curve averaged over a data set (every
    other codec spends more bits on hard images). So each image gets the rate among :data:`RATES` that minimises
    ``MSE + lambda * bpp``; the encoding time includes that search.
    """

    name, label, format, feature, library = "jpeg2000", "JPEG 2000 (OpenJPEG)", "JPEG2000", "jpg_2000", "jpg_2000"
    setting_name = "lambda (MSE per bpp)"
    settings = (2048, 1024, 512, 256, 128, 64, 32, 16, 8, 4, 2, 1, 0.5)
    params = {"irreversible": True, "mct": 1, "quality_mode": "rates"}
    RATES: ClassVar[np.ndarray] = np.geomspace(0.015, 4.0, 36)  # bpp candidates of the search

    def _encode_at_rate(self, rgb: np.ndarray, bpp: float) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(rgb, "RGB").save(buf, self.format, quality_layers=[24.0 / bpp], **self.params)
        return buf.getvalue()

    def encode(self, rgb: np.ndarray, setting: float) -> bytes:
        pixels = rgb.shape[0] * rgb.shape[1]
        ref = rgb.astype(np.float64)

        def cost(data: bytes) -> float:
            mse = float(np.mean((self.decode(data, rgb.shape[:2]).astype(np.float64) - ref) ** 2))
            return mse + setting * len(data) * 8 / pixels

        return min((self._encode_at_rate(rgb, bpp) for bpp in self.RATES), key=cost)


# --------------------------------------------------------------------------------------------- other libraries


class Heic(ClassicCodec):
    """HEVC intra in HEIF (x265 through libheif): the nearest offline relative of BPG."""

    name, label = "heic", "HEIC 4:4:4 (x265)"
    setting_name = "quality"
    settings = (5, 15, 25, 35, 45, 50, 55, 60, 65, 70)
    # libheif otherwise forces aq-mode=1, psy-rd=1, psy-rdoq=1, which trade PSNR for perceived quality.
    params = {"chroma": 444, "enc_params": {"tune": "psnr", "x265:aq-mode": "0", "x265:psy-rd": "0",
                                            "x265:psy-rdoq": "0", "chroma": 444}}
    requires = f"pillow-heif ({BENCH_HINT})"

    @classmethod
    def available(cls) -> bool:
        return _has_module("pillow_heif")

    @classmethod
    def versions(cls) -> dict[str, str]:
        import pillow_heif

        info = pillow_heif.libheif_info()
        return {"pillow-heif": pillow_heif.__version__, "libheif": info["libheif"], "encoder": info["HEIF"]}

    def encode(self, rgb: np.ndarray, setting: float) -> bytes:
        import pillow_heif

        buf = io.BytesIO()
        heif = pillow_heif.from_bytes("RGB", (rgb.shape[1], rgb.shape[0]), np.ascontiguousarray(rgb).tobytes())
        heif.save(buf, quality=int(setting), **self.params)
        return buf.getvalue()

    def decode(self, data: bytes, shape: tuple[int, int]) -> np.ndarray:
        import pillow_heif

        return np.asarray(pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True))


class JpegXL(ClassicCodec):
    """JPEG XL (libjxl through imagecodecs), VarDCT, bare codestream."""

    name, label = "jpegxl", "JPEG XL (libjxl)"
    setting_name = "distance"
    settings = (25.0, 15.0, 10.0, 7.0, 5.0, 3.5, 2.5, 1.8, 1.2, 0.8, 0.5, 0.35)
    params = {"effort": 7}
    requires = f"imagecodecs with JPEG XL ({BENCH_HINT})"

    @classmethod
    def available(cls) -> bool:
        if not _has_module("imagecodecs"):
            return False
        import imagecodecs

        return bool(imagecodecs.JPEGXL.available)

    @classmethod
    def versions(cls) -> dict[str, str]:
        import imagecodecs

        return {"imagecodecs": imagecodecs.__version__, "libjxl": imagecodecs.jpegxl_version().removeprefix("libjxl ")}

    def encode(self, rgb: np.ndarray, setting: float) -> bytes:
        import imagecodecs

        return bytes(imagecodecs.jpegxl_encode(rgb, distance=setting, **self.params))

    def decode(self, data: bytes, shape: tuple[int, int]) -> np.ndarray:
        import imagecodecs

        return np.asarray(imagecodecs.jpegxl_decode(data), dtype=np.uint8)


# --------------------------------------------------------------------------------------------- VVC via FFmpeg

# BT.709 luma weights and 10-bit limited-range ("TV") scaling.
_KR, _KB = 0.2126, 0.0722
_KG = 1.0 - _KR - _KB
_Y_OFFSET, _Y_SCALE, _C_OFFSET, _C_SCALE = 64.0, 876.0, 512.0, 896.0
_VVENC_MIN_SIDE = 32  # VVenC refuses smaller pictures
_VVENC_PRESET = "medium"


class _FFmpeg(NamedTuple):
    exe: str
    version: str
    vvenc: str


def _vvc_encode_args(width: int, height: int, qp: int) -> list[str]:
    """FFmpeg arguments: raw yuv420p10le picture on stdin -> VVC Annex-B stream on stdout."""
    # The colour tags describe the input: given after -i, they would make FFmpeg convert to them.
    return ["-f", "rawvideo", "-pix_fmt", "yuv420p10le", "-s", f"{width}x{height}", "-color_range", "tv",
            "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-i", "pipe:0",
            "-c:v", "libvvenc", "-preset", _VVENC_PRESET, "-qp", str(qp), "-qpa", "0", "-frames:v", "1",
            "-f", "vvc", "pipe:1"]


_VVC_DECODE_ARGS = ["-f", "vvc", "-i", "pipe:0", "-f", "rawvideo", "-pix_fmt", "yuv420p10le", "pipe:1"]


def _call(exe: str, args: Sequence[str], data: bytes, loglevel: str = "error") -> subprocess.CompletedProcess:
    return subprocess.run([exe, "-hide_banner", "-loglevel", loglevel, *args], input=data, capture_output=True,
                          timeout=600)


@functools.cache
def _ffmpeg() -> _FFmpeg | None:
    """The imageio-ffmpeg binary, if it encodes with libvvenc and decodes VVC (tried on a 32x32 picture)."""
    if not _has_module("imageio_ffmpeg"):
        return None
    import imageio_ffmpeg

    probe = np.full(_VVENC_MIN_SIDE**2 * 3 // 2, 512, dtype="<u2").tobytes()
    try:
        exe = imageio_ffmpeg.get_ffmpeg_exe()
        encoded = _call(exe, _vvc_encode_args(_VVENC_MIN_SIDE, _VVENC_MIN_SIDE, 32), probe, loglevel="info")
        decoded = _call(exe, _VVC_DECODE_ARGS, encoded.stdout)
        version = subprocess.run([exe, "-version"], capture_output=True, text=True, timeout=60).stdout.split()
    except (OSError, RuntimeError, subprocess.SubprocessError):
        return None
    if not encoded.stdout or decoded.stdout != probe:
        return None
    vvenc = re.search(r"libvvenc version: (\S+)", encoded.stderr.decode(errors="replace"))
    return _FFmpeg(exe, version[2] if len(version) > 2 else "unknown", vvenc.group(1) if vvenc else "unknown")


@functools.cache
def _upsampler(n: int) -> np.ndarray:
    """(n, n/2) bilinear 2x interpolation matrix, chroma sited at the centre of each 2x2 block, edges clamped."""
    m = n // 2
    up = np.zeros((n, m))
    pos = (np.arange(n) + 0.5) / 2 - 0.5  # output sample positions in chroma-sample units
    left = np.floor(pos).astype(int)
    frac = pos - left
    np.add.at(up, (np.arange(n), np.clip(left, 0, m - 1)), 1 - frac)
    np.add.at(up, (np.arange(n), np.clip(left + 1, 0, m - 1)), frac)
    return up


@functools.cache
def _downsampler(n: int) -> np.ndarray:
    """(n/2, n) least-squares inverse of :func:`_upsampler`: the chroma that the decoder best restores."""
    return np.linalg.pinv(_upsampler(n))


def rgb_to_yuv420p10(rgb: np.ndarray) -> np.ndarray:
    """8-bit RGB (H, W, 3), H and W even -> planar BT.709 limited-range 4:2:0 10-bit samples (uint16, Y then U, V).

    Computed in float64 and rounded once. Chroma is subsampled by the least-squares inverse of the bilinear
    upsampling done by :func:`yuv420p10_to_rgb` (separable, so per axis), which loses less than a box or
    Lanczos filter followed by that upsampler.
    """
    x = rgb.astype(np.float64) / 255.0
    y = _KR * x[..., 0] + _KG * x[..., 1] + _KB * x[..., 2]
    chroma = ((x[..., 2] - y) / (2 * (1 - _KB)), (x[..., 0] - y) / (2 * (1 - _KR)))
    down_h, down_w = _downsampler(rgb.shape[0]), _downsampler(rgb.shape[1])
    planes = [_Y_OFFSET + _Y_SCALE * y] + [_C_OFFSET + _C_SCALE * (down_h @ c @ down_w.T) for c in chroma]
    return np.concatenate([np.clip(np.rint(p), 0, 1023).astype(np.uint16).ravel() for p in planes])


def yuv420p10_to_rgb(samples: np.ndarray, height: int, width: int) -> np.ndarray:
    """Inverse of :func:`rgb_to_yuv420p10`: bilinear chroma upsampling, BT.709, rounded once to 8-bit RGB."""
    n_luma, n_chroma = height * width, (height // 2) * (width // 2)
    planes = samples.astype(np.float64)
    y = (planes[:n_luma].reshape(height, width) - _Y_OFFSET) / _Y_SCALE
    up_h, up_w = _upsampler(height), _upsampler(width)
    cb, cr = (
        up_h @ ((planes[start:start + n_chroma].reshape(height // 2, width // 2) - _C_OFFSET) / _C_SCALE) @ up_w.T
        for start in (n_luma, n_luma + n_chroma)
    )
    r = y + 2 * (1 - _KR) * cr
    b = y + 2 * (1 - _KB) * cb
    g = (y - _KR * r - _KB * b) / _KG
    return np.clip(np.rint(np.stack([r, g, b], axis=-1) * 255.0), 0, 255).astype(np.uint8)


def _vvc_size(height: int, width: int) -> tuple[int, int]:
    """Picture size given to VVenC: even (4:2:0) and at least 32 pixels a side."""
    return max(_VVENC_MIN_SIDE, height + height % 2), max(_VVENC_MIN_SIDE, width + width % 2)


class Vvc(ClassicCodec):
    """VVC intra: VVenC through the FFmpeg build of ``imageio-ffmpeg``; FFmpeg's native VVC decoder.

    FFmpeg's libvvenc wrapper takes 4:2:0 10-bit only (not VTM, not 4:4:4). The RGB <-> YCbCr conversion is
    done here in float64 (see :func:`rgb_to_yuv420p10`). The file is the raw Annex-B stream (.266, parameter
    sets included). Pictures that VVenC cannot take (odd or under 32 pixels a side) are edge-padded, and the
    decoder crops back to the size the caller gives (a container would carry it: about 4 bytes, not counted).
    """

    name, label = "vvc", "VVC intra (VVenC 4:2:0)"
    setting_name = "qp"
    settings = (47, 42, 37, 32, 27, 22, 17, 12)
    params = {"preset": _VVENC_PRESET, "qpa": 0, "chroma": "4:2:0 10-bit", "matrix": "BT.709 limited range",
              "file": "Annex-B .266 stream"}
    requires = f"imageio-ffmpeg==0.8.1, whose FFmpeg has libvvenc ({BENCH_HINT})"

    @classmethod
    def available(cls) -> bool:
        return _ffmpeg() is not None

    @classmethod
    def versions(cls) -> dict[str, str]:
        import imageio_ffmpeg

        ffmpeg = _ffmpeg()
        return {"imageio-ffmpeg": imageio_ffmpeg.__version__, "ffmpeg": ffmpeg.version, "libvvenc": ffmpeg.vvenc}

    @staticmethod
    def _run(args: Sequence[str], data: bytes) -> bytes:
        ffmpeg = _ffmpeg()
        if ffmpeg is None:
            raise CodecUnavailableError(f"vvc needs {Vvc.requires}")
        proc = _call(ffmpeg.exe, args, data)
        if proc.returncode != 0 or not proc.stdout:
            message = proc.stderr.decode(errors="replace").strip().splitlines()
            raise ExternalCodecError(f"ffmpeg failed (exit {proc.returncode}): {message[-1] if message else ''}")
        return proc.stdout

    def encode(self, rgb: np.ndarray, setting: float) -> bytes:
        height, width = _vvc_size(*rgb.shape[:2])
        padded = np.pad(rgb, ((0, height - rgb.shape[0]), (0, width - rgb.shape[1]), (0, 0)), mode="edge")
        return self._run(_vvc_encode_args(width, height, int(setting)), rgb_to_yuv420p10(padded).astype("<u2").tobytes())

    def decode(self, data: bytes, shape: tuple[int, int]) -> np.ndarray:
        height, width = _vvc_size(*shape)
        raw = self._run(_VVC_DECODE_ARGS, data)
        expected = 2 * (height * width + 2 * (height // 2) * (width // 2))
        if len(raw) != expected:
            raise ExternalCodecError(f"VVC decoder returned {len(raw)} bytes, expected {expected} for {width}x{height}")
        return yuv420p10_to_rgb(np.frombuffer(raw, dtype="<u2"), height, width)[: shape[0], : shape[1]]


CODECS: dict[str, type[ClassicCodec]] = {
    codec.name: codec for codec in (Jpeg, Jpeg444, WebP, Jpeg2000, Avif, JpegXL, Heic, Vvc)
}
