"""torch.hub entry points of lic_zoo: one per zoo model (``msp_lite``, ``msp_base``, ``msp_extra``).

    import torch
    codec = torch.hub.load("path/to/lic_zoo", "msp_lite", source="local", quality=3, metric="mse")

They are generated from ``lic_zoo.registry.MODELS``; each docstring states the model's measured performance as the
registry records it.
"""
from __future__ import annotations

import contextlib as _contextlib
from collections.abc import Callable as _Callable

from huggingface_hub.utils import disable_progress_bars as _disable_progress_bars

import lic_zoo as _lic_zoo
from lic_zoo.registry import LAMBDAS as _LAMBDAS
from lic_zoo.registry import METRICS as _METRICS
from lic_zoo.registry import MODELS as _MODELS
from lic_zoo.registry import list_entries as _list_entries

# Import names torch.hub checks before loading an entry point.
dependencies = ["torch", "safetensors", "huggingface_hub", "constriction", "numpy", "PIL"]


def _measured(model: str) -> str:
    published = [entry for entry in _list_entries() if entry.model == model and entry.published is not None]
    if not published:
        return "Measured performance: not yet published (use pretrained=False for a freshly initialised codec)."
    lines = []
    for entry in published:
        numbers = [f"{entry.published.bpp:.4f} bpp"] if entry.published.bpp is not None else []
        numbers += [f"{entry.published.psnr:.2f} dB PSNR-RGB"] if entry.published.psnr is not None else []
        lines.append(f"    {entry.metric} q{entry.quality}: {', '.join(numbers) or 'published, not yet measured'}")
    return "Measured performance (eval-768x512, whole-file bpp, no LOF):\n" + "\n".join(lines)


def _docstring(model: str) -> str:
    profile = _MODELS[model]
    return (
        f"MSP learned image codec, {profile.name} profile: N={profile.width}, C={profile.latent_channels}, "
        f"{profile.scales} scales, {len(profile.groups)} channel group(s), {profile.context_calls} sequential "
        f"context-network calls per decode at any image size, default LOF budget {profile.lof_steps} steps.\n\n"
        f"{_measured(model)}\n\n"
        f"Args: quality ({min(_LAMBDAS['mse'])}-{max(_LAMBDAS['mse'])}), metric ({' or '.join(_METRICS)}), "
        "pretrained (load the published weights, else a freshly initialised codec), progress (show download "
        "progress bars), device (where the codec runs, default cpu).\nReturns an ``lic_zoo.MSPCodec`` in eval mode."
    )


def _entry_point(model: str) -> _Callable[..., _lic_zoo.MSPCodec]:
    def entry_point(
        *, quality: int = 3, metric: str = "mse", pretrained: bool = True, progress: bool = True,
        device: str = "cpu",
    ) -> _lic_zoo.MSPCodec:
        with _contextlib.nullcontext() if progress else _disable_progress_bars():
            return _lic_zoo.load(model, quality=quality, metric=metric, pretrained=pretrained, device=device)

    entry_point.__name__ = entry_point.__qualname__ = model.replace("-", "_")
    entry_point.__doc__ = _docstring(model)
    return entry_point


globals().update({model.replace("-", "_"): _entry_point(model) for model in _MODELS})
