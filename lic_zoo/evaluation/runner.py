"""Run a codec over a folder of images at each of its settings and write CompressAI-shaped results.

Every image is really encoded to bytes and decoded again; bpp counts the whole file. Encoding and decoding
are timed separately (wall clock, one call each, after one untimed warm-up per setting on the first image).
Metrics are computed on the 8-bit reconstruction (see :mod:`.metrics`). Two files per run:

- ``<stem>.json``: ``{"name", "description", "results": {"bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time",
  "decoding_time"}}``, one point per setting, each the mean over the images (PSNR: mean of the dB values);
  plus ``setting_name``, ``settings`` and ``meta``, which CompressAI's readers ignore;
- ``per-image/<stem>.json``: one record per image and setting (in a subfolder, so that ``<out>/*.json`` names
  the summaries only, which ``lic-zoo bdrate`` and ``lic-zoo plot`` read).

Values that are not finite (MS-SSIM of an image under 176 pixels a side, PSNR of a lossless decode) are
written as ``null``, and so is a mean over images that includes one.
"""
from __future__ import annotations

import datetime
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from ..errors import UnsupportedInputError
from ..image_io import atomic_write
from .metrics import ms_ssim_rgb, psnr_rgb

PER_IMAGE_FOLDER = "per-image"
IMAGE_SUFFIXES = (".png", ".ppm", ".pnm", ".bmp", ".tif", ".tiff")  # lossless formats only

CONVENTIONS = {
    "bpp": "whole compressed file bytes * 8 / (H*W), container and headers included; mean over images",
    "psnr-rgb": "per image 10*log10(255^2/MSE), MSE over all 8-bit RGB samples; mean over images of the dB values",
    "ms-ssim-rgb": "per image torchmetrics multiscale SSIM on 8-bit RGB (float32, data_range=255, 5 scales); "
    "null under 176 px a side; mean over images",
    "encoding_time": "wall seconds of one encode call per image (mean over images), after 1 untimed warm-up",
    "decoding_time": "wall seconds of one decode-to-8-bit-RGB call per image (mean over images)",
    "input": "image file -> 8-bit RGB via Pillow (ICC profiles ignored)",
}


class SweepCodec(Protocol):
    """What the runner needs of a codec: both classic codecs and :class:`ZooCodec` provide it."""

    label: str
    setting_name: str
    params: dict[str, Any]

    def description(self) -> str: ...

    def versions(self) -> dict[str, str]: ...

    def encode(self, rgb: np.ndarray, setting: Any) -> bytes: ...

    def decode(self, data: bytes, shape: tuple[int, int]) -> np.ndarray: ...


@dataclass(frozen=True)
class Record:
    """The measurement of one image at one setting."""

    image: str
    setting: Any
    height: int
    width: int
    bytes: int
    bpp: float
    psnr_rgb: float
    ms_ssim_rgb: float
    encoding_time: float
    decoding_time: float

    def to_json(self) -> dict[str, Any]:
        """The record with the results files' key names ("psnr-rgb", "ms-ssim-rgb"); non-finite values -> null."""
        renamed = {"psnr_rgb": "psnr-rgb", "ms_ssim_rgb": "ms-ssim-rgb"}
        return {renamed.get(k, k): _json_number(v) for k, v in asdict(self).items()}


class ZooCodec:
    """A zoo model (``msp-lite``, ...) seen as a sweep over quality indices, through ``lic_zoo.load``.

    ``loader`` defaults to :func:`lic_zoo.load`; it is called as ``loader(model, quality=q, metric=metric,
    pretrained=True)`` and must return an object with ``compress(tensor, lof_steps=...) -> bytes`` and
    ``decompress(bytes) -> tensor``. The first quality is loaded on construction, so missing weights
    (:class:`~lic_zoo.errors.WeightsUnavailableError`) are reported before any work starts.
    """

    setting_name = "quality"

    def __init__(self, model: str, qualities: Sequence[int], *, metric: str = "mse", lof_steps: int | None = None,
                 loader: Callable[..., Any] | None = None) -> None:
        if loader is None:
            import lic_zoo

            loader = lic_zoo.load
        self.model, self.metric, self.lof_steps, self._loader = model, metric, lof_steps, loader
        lof = "" if lof_steps is None else f", LOF {lof_steps}"
        self.label = f"{model} ({metric}{lof})"
        self.params = {"metric": metric, "lof_steps": "profile default" if lof_steps is None else lof_steps}
        self._quality, self._codec = qualities[0], loader(model, quality=qualities[0], metric=metric, pretrained=True)

    def _codec_for(self, quality: int) -> Any:
        if quality != self._quality:
            self._codec = None  # release the previous model before loading the next
            self._quality, self._codec = quality, self._loader(self.model, quality=quality, metric=self.metric,
                                                               pretrained=True)
        return self._codec

    def versions(self) -> dict[str, str]:
        import lic_zoo

        return {"lic_zoo": getattr(lic_zoo, "__version__", "unknown"), "torch": torch.__version__}

    def description(self) -> str:
        return f"lic_zoo {self.model}, {self.metric} model, quality sweep, LOF steps: {self.params['lof_steps']}"

    def encode(self, rgb: np.ndarray, setting: int) -> bytes:
        codec = self._codec_for(setting)
        x = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))).to(torch.float32).div_(255.0)
        kwargs = {} if self.lof_steps is None else {"lof_steps": self.lof_steps}
        return bytes(codec.compress(x, **kwargs))

    def decode(self, data: bytes, shape: tuple[int, int]) -> np.ndarray:
        x_hat = self._codec.decompress(data)  # the model of the latest encode
        return (x_hat.detach().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def list_images(directory: str | os.PathLike, limit: int | None = None) -> list[Path]:
    """The lossless image files directly in ``directory``, sorted by name (the first ``limit`` of them)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(2, "no such directory", str(directory))
    images = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise UnsupportedInputError(f"{directory}: no images ({', '.join(IMAGE_SUFFIXES)})")
    return images[:limit]


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """An image file as an 8-bit RGB array (H, W, 3)."""
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def measure(codec: SweepCodec, rgb: np.ndarray, setting: Any, image: str) -> Record:
    """Encode and decode one image once, timing each, and score the 8-bit reconstruction."""
    start = time.perf_counter()
    data = codec.encode(rgb, setting)
    encoded = time.perf_counter()
    rec = codec.decode(data, rgb.shape[:2])
    decoded = time.perf_counter()
    height, width = rgb.shape[:2]
    return Record(image, setting, height, width, len(data), len(data) * 8 / (height * width), psnr_rgb(rec, rgb),
                  ms_ssim_rgb(rec, rgb), encoded - start, decoded - encoded)


def evaluate(codec: SweepCodec, settings: Sequence[Any], images: Sequence[Path], *,
             progress: bool = True) -> list[Record]:
    """Measure every image at every setting (settings outermost); images are read as they are needed."""
    records = []
    with tqdm(total=len(settings) * len(images), desc=codec.label, unit="img", disable=not progress,
              file=sys.stderr, dynamic_ncols=True) as bar:
        for setting in settings:
            bar.set_postfix_str(f"{codec.setting_name}={setting}", refresh=False)
            first = read_rgb(images[0])
            codec.decode(codec.encode(first, setting), first.shape[:2])  # warm-up, not timed
            for path in images:
                records.append(measure(codec, read_rgb(path), setting, path.stem))
                bar.update()
    return records


def _json_number(value: Any) -> Any:
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def _mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return float(np.mean(values)) if all(math.isfinite(v) for v in values) else None


def summarize(records: Sequence[Record], settings: Sequence[Any]) -> dict[str, list[float | None]]:
    """CompressAI's ``results`` dict: per setting, the mean over images of each quantity."""
    fields = {"bpp": "bpp", "psnr-rgb": "psnr_rgb", "ms-ssim-rgb": "ms_ssim_rgb",
              "encoding_time": "encoding_time", "decoding_time": "decoding_time"}
    by_setting = [[r for r in records if r.setting == s] for s in settings]
    return {key: [_mean(getattr(r, attr) for r in group) for group in by_setting] for key, attr in fields.items()}


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as JSON to ``path`` atomically (see :func:`lic_zoo.image_io.atomic_write`)."""
    atomic_write(path, (json.dumps(obj, indent=1, allow_nan=False) + "\n").encode("utf-8"))


def run(codec: SweepCodec, settings: Sequence[Any], images: Sequence[Path], out_dir: str | os.PathLike, stem: str,
        *, progress: bool = True) -> tuple[Path, dict[str, Any]]:
    """Evaluate ``codec`` and write ``<stem>.json`` and ``per-image/<stem>.json`` into ``out_dir``.

    Returns the path of the summary file and its content.
    """
    out_dir = Path(out_dir)
    (out_dir / PER_IMAGE_FOLDER).mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    records = evaluate(codec, settings, images, progress=progress)
    meta = {
        "image_dir": str(images[0].parent),
        "n_images": len(images),
        "images": [p.stem for p in images],
        "setting_name": codec.setting_name,
        "codec_params": codec.params,
        "versions": codec.versions(),
        "conventions": CONVENTIONS,
        "host": f"{platform.machine()} {os.cpu_count()} cpus, {platform.system()}, Python {platform.python_version()}",
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    header = {"name": codec.label, "description": codec.description(), "setting_name": codec.setting_name}
    summary = {**header, "results": summarize(records, settings), "settings": list(settings), "meta": meta}
    summary_path = out_dir / f"{stem}.json"
    write_json_atomic(out_dir / PER_IMAGE_FOLDER / f"{stem}.json",
                      {**header, "meta": meta, "records": [r.to_json() for r in records]})
    write_json_atomic(summary_path, summary)
    return summary_path, summary
