"""Image-folder data for training codecs: random crops with flips for training, full images for validation.

Pillow and numpy only. Image files are found by extension (anything Pillow can open); every file is checked once
(header only) when the data module is set up, and unreadable ones are skipped and reported. A file that only fails
while decoding its pixels (a truncated PNG, say) is reported and replaced by another image, so an epoch never dies
halfway.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import lightning.pytorch as pl
import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from ..errors import LicZooError
from ..image_io import pil_to_tensor

log = logging.getLogger(__name__)

SmallImagePolicy = Literal["upscale", "pad", "skip"]
_LOAD_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError, LicZooError)
_MAX_CONSECUTIVE_FAILURES = 20
UNSET = "???"  # the recipes' placeholder for a value the command line must give


class DatasetError(LicZooError, ValueError):
    """A data folder is missing, empty, or holds no readable image."""


@dataclass(frozen=True)
class ImageFile:
    """A readable image file and its size as stored in its header."""

    path: Path
    width: int
    height: int


def image_extensions() -> set[str]:
    """File extensions Pillow can open (lower case, with the dot)."""
    Image.init()
    return {ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN}


def scan_folder(folder: str | os.PathLike[str]) -> list[ImageFile]:
    """All readable images under ``folder`` (recursively, sorted by path); unreadable ones are logged and skipped.

    Raises :class:`DatasetError` if the folder does not exist or holds no readable image.
    """
    root = Path(folder)
    if not root.is_dir():
        raise DatasetError(f"image folder {root} does not exist or is not a folder")
    extensions = image_extensions()
    candidates = sorted(
        path for path in root.rglob("*")
        if path.is_file() and path.suffix.lower() in extensions and not _hidden(path.relative_to(root))
    )
    images, unreadable = [], []
    for path in candidates:
        try:
            with Image.open(path) as img:
                images.append(ImageFile(path, *img.size))
        except _LOAD_ERRORS as exc:
            unreadable.append(f"{path.name} ({exc})")
    if unreadable:
        log.warning("skipping %d unreadable file(s) in %s: %s", len(unreadable), root, "; ".join(unreadable))
    if not images:
        what = f"none of its {len(candidates)} image file(s) is readable" if candidates else "it has no image files"
        raise DatasetError(f"no images in {root}: {what}")
    return images


def require_train_dir(train_dir: object) -> None:
    """Raise :class:`DatasetError` when ``train_dir`` is unset: empty, or still the recipes' ``???``."""
    if train_dir is None or str(train_dir).strip() in ("", UNSET):
        raise DatasetError("train_dir must be set: pass --data.init_args.train_dir DIR (a folder of training images)")


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def _load(path: Path) -> Image.Image:
    """Decode the pixels of an image file (raises on truncated or corrupt data)."""
    with Image.open(path) as img:
        img.load()
        return img.copy()


class _FailureTolerantDataset(Dataset):
    """Base for datasets over image files: a file that fails to decode is reported and replaced by the next one."""

    def __init__(self, files: Sequence[ImageFile]) -> None:
        self.files = list(files)
        self._bad: set[int] = set()

    def _item(self, image_index: int) -> Tensor:
        raise NotImplementedError

    def _load_index(self, index: int) -> Tensor:
        n = len(self.files)
        for attempt in range(min(n, _MAX_CONSECUTIVE_FAILURES)):
            image_index = (index + attempt) % n
            if image_index in self._bad:
                continue
            try:
                return self._item(image_index)
            except _LOAD_ERRORS as exc:
                self._bad.add(image_index)
                log.warning("skipping unreadable image %s: %s", self.files[image_index].path, exc)
        raise DatasetError(f"{min(n, _MAX_CONSECUTIVE_FAILURES)} images in a row failed to load, starting at "
                           f"{self.files[index % n].path}")


class RandomCropDataset(_FailureTolerantDataset):
    """Random ``crop_size`` crops with random horizontal and vertical flips, as (3, crop, crop) tensors in [0, 1].

    ``samples_per_epoch`` sets the dataset length (image ``i % n`` for index ``i``), so one epoch can hold many
    crops of each image. Decoded images are kept in memory when ``cache`` is set (each worker has its own cache).
    Images smaller than the crop are upscaled (aspect kept) or mirror-padded, per ``small_images``.
    """

    def __init__(self, files: Sequence[ImageFile], crop_size: int, *, samples_per_epoch: int | None = None,
                 small_images: SmallImagePolicy = "upscale", cache: bool = True) -> None:
        super().__init__(files)
        self.crop_size = crop_size
        self.samples_per_epoch = samples_per_epoch or len(self.files)
        self.small_images = small_images
        self.cache = cache
        self._images: dict[int, Image.Image] = {}

    def __len__(self) -> int:
        return self.samples_per_epoch

    def __getitem__(self, index: int) -> Tensor:
        return self._load_index(index % len(self.files))

    def _image(self, image_index: int) -> Image.Image:
        img = self._images.get(image_index)
        if img is None:
            img = _load(self.files[image_index].path)
            if self.small_images == "upscale" and min(img.size) < self.crop_size:
                factor = self.crop_size / min(img.size)
                size = (max(self.crop_size, round(side * factor)) for side in img.size)
                img = img.resize(tuple(size), Image.Resampling.BICUBIC)
            if self.cache:
                self._images[image_index] = img
        return img

    def _item(self, image_index: int) -> Tensor:
        img = self._image(image_index)
        crop_w, crop_h = min(self.crop_size, img.width), min(self.crop_size, img.height)
        left = int(torch.randint(img.width - crop_w + 1, ()))
        top = int(torch.randint(img.height - crop_h + 1, ()))
        x, _ = pil_to_tensor(img.crop((left, top, left + crop_w, top + crop_h)))
        if crop_w < self.crop_size or crop_h < self.crop_size:  # small_images == "pad"
            x = _mirror_pad(x, self.crop_size)
        if torch.rand(()) < 0.5:
            x = x.flip(-1)
        if torch.rand(()) < 0.5:
            x = x.flip(-2)
        return x


def _mirror_pad(x: Tensor, size: int) -> Tensor:
    """Pad (3, h, w) at the bottom and right to (3, size, size) by mirroring (any h, w >= 1)."""
    pad = ((0, 0), (0, size - x.shape[-2]), (0, size - x.shape[-1]))
    return torch.from_numpy(np.pad(x.numpy(), pad, mode="symmetric"))


class FullImageDataset(_FailureTolerantDataset):
    """Whole images as (3, H, W) tensors in [0, 1], in file order (for validation, test and predict)."""

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> Tensor:
        return self._load_index(index)

    def _item(self, image_index: int) -> Tensor:
        return pil_to_tensor(_load(self.files[image_index].path))[0]


class ImageFolderDataModule(pl.LightningDataModule):
    """Training crops from ``train_dir``; validation on full images.

    Args:
        train_dir: folder of training images (searched recursively).
        val_dir: folder of validation images. Without it, the last ``val_images`` training images (sorted by path)
            are held out for validation.
        val_images: how many validation images to use (the first ones by path); ``None`` = all of ``val_dir``.
        test_dir: folder for ``test`` and ``predict`` (default: the validation images).
        crop_size: side of the square training crops (a multiple of 16 avoids padding inside the codec).
        batch_size: training crops per batch (per device under DDP). Validation uses one full image per batch.
        samples_per_epoch: crops per training epoch (default: one per image).
        small_images: what to do with training images smaller than the crop: "upscale" (bicubic, aspect kept),
            "pad" (mirror) or "skip" (left out and reported).
        num_workers: data-loading worker processes (0 = load in the main process).
        cache: keep decoded training images in memory (per worker), so a crop costs no PNG decode.
    """

    def __init__(
        self,
        train_dir: str,
        val_dir: str | None = None,
        val_images: int | None = 4,
        test_dir: str | None = None,
        crop_size: int = 256,
        batch_size: int = 8,
        samples_per_epoch: int | None = None,
        small_images: SmallImagePolicy = "upscale",
        num_workers: int = 2,
        cache: bool = True,
    ) -> None:
        super().__init__()
        if crop_size < 16:
            raise ValueError(f"crop_size must be at least 16, got {crop_size}")
        if val_dir is None and not val_images:
            raise ValueError("without val_dir, val_images training images are held out for validation: set it >= 1")
        self.save_hyperparameters()
        self.train_set: RandomCropDataset | None = None
        self.val_set: FullImageDataset | None = None
        self.test_set: FullImageDataset | None = None

    def setup(self, stage: str) -> None:
        hp = self.hparams
        require_train_dir(hp.train_dir)
        train = scan_folder(hp.train_dir)
        if hp.val_dir is None:
            if len(train) <= hp.val_images:
                raise DatasetError(f"{hp.train_dir} has {len(train)} readable image(s): too few to hold out "
                                   f"{hp.val_images} for validation and train on the rest; set val_dir")
            train, val = train[: -hp.val_images], train[-hp.val_images :]
        else:
            val = scan_folder(hp.val_dir)[: hp.val_images]
        self.val_set = FullImageDataset(val)
        if stage == "fit":
            self.train_set = RandomCropDataset(self._usable(train), hp.crop_size, small_images=hp.small_images,
                                               samples_per_epoch=hp.samples_per_epoch, cache=hp.cache)
            if len(self.train_set) < hp.batch_size:
                raise DatasetError(f"{len(self.train_set)} training crop(s) per epoch do not fill one batch of "
                                   f"{hp.batch_size}: set samples_per_epoch or a smaller batch_size")
        self.test_set = FullImageDataset(scan_folder(hp.test_dir)) if hp.test_dir else self.val_set

    def _usable(self, files: list[ImageFile]) -> list[ImageFile]:
        if self.hparams.small_images != "skip":
            return files
        crop = self.hparams.crop_size
        kept = [f for f in files if min(f.width, f.height) >= crop]
        if len(kept) < len(files):
            skipped = ", ".join(f"{f.path.name} ({f.width}x{f.height})" for f in files if f not in kept)
            log.warning("skipping %d training image(s) smaller than the %dx%d crop: %s",
                        len(files) - len(kept), crop, crop, skipped)
        if not kept:
            raise DatasetError(f"every training image in {self.hparams.train_dir} is smaller than the {crop}x{crop} "
                               "crop; use small_images=upscale or pad, or a smaller crop_size")
        return kept

    def _loader(self, dataset: Dataset, *, batch_size: int, shuffle: bool) -> DataLoader:
        workers = self.hparams.num_workers
        return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=workers, drop_last=shuffle,
                          persistent_workers=workers > 0, pin_memory=torch.cuda.is_available())

    def train_dataloader(self) -> DataLoader:
        assert self.train_set is not None, "setup('fit') first"
        return self._loader(self.train_set, batch_size=self.hparams.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, batch_size=1, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, batch_size=1, shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self.test_dataloader()
