"""Reading and writing image files, and converting between PIL images and tensors.

Input policy: any format Pillow reads (PNG, JPEG, WebP, TIFF, ...). Grayscale is coded as RGB and decoded
back to grayscale; an alpha channel is dropped (composited on nothing: colour channels are kept as they are).
16-bit grayscale is scaled to [0, 1] with its full precision; 16-bit RGB is read as 8-bit, because Pillow keeps
only the high byte of each sample. Of an animated image only the first frame is used, with a warning. Outputs
are written atomically with the mode a plain ``open()`` gives (0o666 less the umask), as lossless files.
"""
from __future__ import annotations

import errno
import io
import os
import secrets
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .coding.bitstream import Limits
from .errors import LicZooWarning, LimitExceededError, OutputError, UnsupportedInputError

GRAY_MODES = {"L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "1"}
# Output suffix -> Pillow format and save options: lossless formats only (the decoded pixels, unchanged).
OUTPUT_FORMATS: dict[str, tuple[str, dict[str, object]]] = {
    ".png": ("PNG", {}), ".tif": ("TIFF", {}), ".tiff": ("TIFF", {}), ".bmp": ("BMP", {}), ".ppm": ("PPM", {}),
    ".pnm": ("PPM", {}), ".webp": ("WEBP", {"lossless": True}),
}
# Values this far outside [0, 1] are rounding, not a wrong range: half an 8-bit step.
RANGE_TOLERANCE = 0.5 / 255


def require_file(path: str | os.PathLike) -> Path:
    """``path`` if it names an existing file, else ``FileNotFoundError`` or ``IsADirectoryError`` (one wording)."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "input is a folder, not a file", str(path))
    if not path.is_file():
        raise FileNotFoundError(errno.ENOENT, "no such file", str(path))
    return path


def open_image(path: str | os.PathLike, limits: Limits = Limits()) -> Image.Image:
    """Open and fully read an image file with Pillow; typed errors for missing, unreadable or too large files.

    The size in the file's header is checked against ``limits`` before the pixels are decoded, and Pillow's
    own decompression-bomb warning is silenced: ``limits`` are the ones that apply. An animated image gives its
    first frame and a :class:`~lic_zoo.errors.LicZooWarning`.
    """
    path = require_file(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
        with img:
            limits.check(img.height, img.width)
            frames = getattr(img, "n_frames", 1)  # counting seeks through the file: before load(), at frame 0
            img.load()
    except Image.DecompressionBombError:
        cap = 2 * Image.MAX_IMAGE_PIXELS
        bound = f"the limit of {limits.max_pixels}" if limits.max_pixels < cap else "what Pillow decodes"
        raise LimitExceededError(f"{path}: image of over {cap} pixels exceeds {bound}") from None
    except (UnidentifiedImageError, SyntaxError, ValueError, OSError) as exc:
        raise UnsupportedInputError(f"{path}: not a readable image ({exc})") from None
    if frames > 1:
        warnings.warn(f"{path}: animated image of {frames} frames, only the first frame is used", LicZooWarning,
                      stacklevel=2)
    return img


def load_image(path: str | os.PathLike) -> tuple[torch.Tensor, str]:
    """Read an image file as a float tensor (3, H, W) in [0, 1], plus its layout ("RGB" or "L")."""
    return pil_to_tensor(open_image(path))


def pil_to_tensor(img: Image.Image) -> tuple[torch.Tensor, str]:
    """PIL image -> (float tensor (3, H, W) in [0, 1], layout)."""
    layout = "L" if img.mode in GRAY_MODES else "RGB"
    try:
        if img.mode.startswith("I"):  # 16- or 32-bit integer grayscale
            arr = np.asarray(img, dtype=np.float64)
            peak = 65535.0 if img.mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
            arr = np.repeat(np.clip(arr / peak, 0, 1)[..., None], 3, axis=2)
        elif img.mode == "F":
            arr = np.repeat(np.clip(np.asarray(img, dtype=np.float64), 0, 1)[..., None], 3, axis=2)
        else:  # RGB, RGBA (alpha dropped), P, CMYK, LA, 1, ...: Pillow converts
            arr = np.asarray(img.convert("RGB"), dtype=np.float64) / 255.0
    except (ValueError, OSError) as exc:
        raise UnsupportedInputError(f"unsupported image mode {img.mode!r}: {exc}") from None
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise UnsupportedInputError(f"empty image of size {img.size}")
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1), dtype=np.float32)), layout


def tensor_to_pil(x: torch.Tensor, layout: str = "RGB") -> Image.Image:
    """Float tensor (3, H, W) in [0, 1] -> 8-bit PIL image in ``layout`` ("RGB" or "L")."""
    arr = to_uint8(x).permute(1, 2, 0).cpu().numpy()
    img = Image.fromarray(arr, "RGB")
    return img.convert("L") if layout == "L" else img


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Round a [0, 1] float tensor to 8-bit values (the precision every reconstruction is scored at)."""
    return (x.detach().clamp(0, 1) * 255).round().to(torch.uint8)


def as_image_tensor(image: torch.Tensor | Image.Image) -> tuple[torch.Tensor, str]:
    """Validate a user image: a float tensor (3, H, W) or (1, H, W) in [0, 1], or a PIL image."""
    if isinstance(image, Image.Image):
        return pil_to_tensor(image)
    if not isinstance(image, torch.Tensor):
        raise UnsupportedInputError(f"expected a torch.Tensor or PIL.Image, got {type(image).__name__}")
    if image.dim() != 3 or image.shape[0] not in (1, 3):
        raise UnsupportedInputError(f"expected a tensor of shape (3, H, W) or (1, H, W), got {tuple(image.shape)}")
    if not image.is_floating_point():
        raise UnsupportedInputError(f"expected a float tensor in [0, 1], got dtype {image.dtype}")
    if image.shape[1] == 0 or image.shape[2] == 0:
        raise UnsupportedInputError(f"empty image of shape {tuple(image.shape)}")
    if not torch.isfinite(image).all():
        raise UnsupportedInputError("image contains NaN or infinite values")
    low, high = image.aminmax()
    if low < -RANGE_TOLERANCE or high > 1 + RANGE_TOLERANCE:
        raise UnsupportedInputError(f"image values must lie in [0, 1], got {float(low):.4g} to {float(high):.4g} "
                                    "(divide 8-bit values by 255)")
    layout = "L" if image.shape[0] == 1 else "RGB"
    return image.expand(3, -1, -1).clamp(0, 1), layout


def atomic_write(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and an atomic rename.

    The file gets the mode a plain ``open()`` would give it: the temporary file is created with 0o666, from
    which the system takes away the umask (and applies a folder's default ACL).
    """
    path = Path(path)
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(errno.ENOENT, "output folder does not exist", str(folder))
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "output is a folder, not a file", str(path))
    tmp = folder / f".{path.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def output_format(path: str | os.PathLike) -> tuple[str, dict[str, object]]:
    """The Pillow format and save options for an output file, from its suffix; :class:`OutputError` if lossy."""
    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise OutputError(f"{path}: cannot write {suffix or 'a file without suffix'}; decoded images are written "
                          f"losslessly as {', '.join(OUTPUT_FORMATS)}")
    return OUTPUT_FORMATS[suffix]


def write_image(image: Image.Image, path: str | os.PathLike) -> None:
    """Write a PIL image atomically, in the lossless format its suffix names (see :data:`OUTPUT_FORMATS`)."""
    fmt, options = output_format(path)
    buf = io.BytesIO()
    image.save(buf, format=fmt, **options)
    atomic_write(path, buf.getvalue())
