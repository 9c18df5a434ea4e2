"""Tiled transforms: run g_a / g_s over overlapping tiles so memory stays bounded for huge images.

The latent is cut into square cores of ``tile`` latent pixels; each core is computed from its own window
extended by ``halo`` latent pixels on every side (clipped at the image border), and only the core is kept.
The halo covers the transforms' receptive field, and every window starts on a multiple of the transforms'
stride, so each kept value is the same function of the same inputs as in the untiled transform: the latent,
hence the bitstream, is the same as untiled (tested), and so are the pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from .transforms import STRIDE

MIN_TILE = 16


@dataclass(frozen=True)
class Tiling:
    """When and how to tile. Images of at most ``min_pixels`` pixels run untiled (faster, same result)."""

    tile: int = 64  # core side, latent pixels (1024 image pixels)
    halo: int = 8  # latent pixels of context around each core; must cover the receptive field
    min_pixels: int = 4_194_304  # 2048 x 2048

    def __post_init__(self) -> None:
        # Cores of at least MIN_TILE / 2 plus the default halo make windows of at least 16 x 16 latent pixels,
        # which keeps every 3x3 convolution above the size (20480 input elements) below which PyTorch leaves
        # oneDNN for another kernel that rounds differently.
        if self.tile < MIN_TILE or self.halo < 0:
            raise ValueError(f"tile must be >= {MIN_TILE} and halo >= 0, got tile={self.tile}, halo={self.halo}")

    def applies(self, height: int, width: int) -> bool:
        return height * width > self.min_pixels

    def cores(self, latent_height: int, latent_width: int) -> list[tuple[slice, slice, slice, slice]]:
        """Per tile: (core rows, core cols) in latent units, and (window rows, window cols) around them.

        Cores split each side evenly (none smaller than half a tile), so no window is so small that the
        convolution library picks another algorithm for it than for the whole image.
        """
        return [(rows, cols, self._window(rows, latent_height), self._window(cols, latent_width))
                for rows in _even_split(latent_height, self.tile) for cols in _even_split(latent_width, self.tile)]

    def _window(self, core: slice, size: int) -> slice:
        return slice(max(core.start - self.halo, 0), min(core.stop + self.halo, size))


def _even_split(size: int, tile: int) -> list[slice]:
    """``size`` cut into ceil(size / tile) nearly equal consecutive slices."""
    n = -(-size // tile)
    bounds = [size * i // n for i in range(n + 1)]
    return [slice(a, b) for a, b in zip(bounds, bounds[1:])]


def _pixels(latent: slice) -> slice:
    """The image rows (or columns) of a range of latent rows (or columns)."""
    return slice(latent.start * STRIDE, latent.stop * STRIDE)


def _within(core: slice, window: slice, scale: int = 1) -> slice:
    """The core's position inside its window, in units ``scale`` times finer than latent pixels."""
    return slice((core.start - window.start) * scale, (core.stop - window.start) * scale)


def analyse_tiled(g_a: nn.Module, x: Tensor, tiling: Tiling, latent_channels: int, *,
                  progress: bool = False) -> Tensor:
    """g_a over a (1, 3, H, W) image already padded to a multiple of STRIDE, tile by tile."""
    lh, lw = x.shape[-2] // STRIDE, x.shape[-1] // STRIDE
    y = torch.empty(1, latent_channels, lh, lw, dtype=x.dtype, device=x.device)
    for rows, cols, win_rows, win_cols in tqdm(tiling.cores(lh, lw), desc="analysis", disable=not progress,
                                               leave=False):
        out = g_a(x[..., _pixels(win_rows), _pixels(win_cols)])
        y[..., rows, cols] = out[..., _within(rows, win_rows), _within(cols, win_cols)]
    return y


def synthesize_tiled(g_s: nn.Module, y_hat: Tensor, tiling: Tiling, *, progress: bool = False) -> Tensor:
    """g_s over a (1, C, h, w) latent, tile by tile: the (1, 3, 16h, 16w) reconstruction."""
    lh, lw = y_hat.shape[-2:]
    x_hat = torch.empty(1, 3, lh * STRIDE, lw * STRIDE, dtype=y_hat.dtype, device=y_hat.device)
    for rows, cols, win_rows, win_cols in tqdm(tiling.cores(lh, lw), desc="synthesis", disable=not progress,
                                               leave=False):
        out = g_s(y_hat[..., win_rows, win_cols])
        core = out[..., _within(rows, win_rows, STRIDE), _within(cols, win_cols, STRIDE)]
        x_hat[..., _pixels(rows), _pixels(cols)] = core
    return x_hat
