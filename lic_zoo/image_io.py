"""Reading and writing image files, and converting between PIL images and tensors.

Input policy: any format Pillow reads (PNG, JPEG, WebP, TIFF, ...). Grayscale is coded as RGB and decoded
back to grayscale; an alpha channel is dropped (composited on nothing: colour channels are kept as they are);
16-bit images are scaled to [0, 1] with their full precision and the codec's output is 8-bit.
"""
from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .bitstream import Limits
from .errors import LimitExceededError, UnsupportedInputError

GRAY_MODES = {"L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "1"}


def open_image(path: str | os.PathLike, limits: Limits = Limits()) -> Image.Image:
    """Open and fully read an image file with Pillow; typed errors for missing, unreadable or too large files.

    The size in the file's header is checked against ``limits`` before the pixels are decoded.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, "no such file", str(path))
    try:
        with Image.open(path) as img:
            limits.check(img.height, img.width)
            img.load()
            return img
    except Image.DecompressionBombError as exc:
        raise LimitExceededError(f"{path}: {exc}") from None
    except (UnidentifiedImageError, SyntaxError, ValueError, OSError) as exc:
        raise UnsupportedInputError(f"{path}: not a readable image ({exc})") from None


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
    layout = "L" if image.shape[0] == 1 else "RGB"
    return image.expand(3, -1, -1).clamp(0, 1), layout


def atomic_write(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and an atomic rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_png(image: Image.Image, path: str | os.PathLike) -> None:
    """Write a PIL image as PNG, atomically."""
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    atomic_write(path, buf.getvalue())


def save_image(x: torch.Tensor, path: str | os.PathLike, layout: str = "RGB") -> None:
    """Write a [0, 1] tensor as an 8-bit PNG, atomically."""
    save_png(tensor_to_pil(x, layout), path)
