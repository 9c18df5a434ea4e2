"""Content digest of a model's weights, independent of the file, memory layout and float type they are kept in."""
from __future__ import annotations

import hashlib

import torch


def state_dict_digest(state_dict: dict[str, torch.Tensor]) -> str:
    """SHA-256 (hex) over every tensor's name, dtype, shape and bytes, in sorted name order.

    Floating-point tensors are hashed as float32 (the precision the codec is defined in), so a copy moved to
    float64 or to channels_last keeps the digest its streams carry.
    """
    h = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name].detach().to("cpu")
        if t.is_floating_point():
            t = t.to(torch.float32)
        t = t.contiguous().reshape(-1)  # flat, so that size-1 dims with odd strides cannot matter
        h.update(f"{name}|{t.dtype}|{tuple(state_dict[name].shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()
