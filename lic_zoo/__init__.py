"""lic_zoo: learned image compression with multi-scale progressive probability models.

Quick start::

    import lic_zoo
    codec = lic_zoo.load("msp-lite", quality=3)
    data = codec.compress(image)          # float tensor (3, H, W) in [0, 1], or a PIL image
    x_hat = lic_zoo.decode(data)          # (3, H, W) float tensor in [0, 1]
"""
from .codec import EncodeResult, MSPCodec, MSPOutput
from .coding.bitstream import Limits
from .errors import (
    CorruptStreamError,
    DigestMismatchError,
    LicZooError,
    LicZooWarning,
    LimitExceededError,
    ModelMismatchError,
    OutputError,
    UnknownModelError,
    UnsupportedInputError,
    WeightsNameError,
    WeightsUnavailableError,
)
from .model.profiles import PROFILES, Profile
from .zoo import decode, decode_file, load, load_local
from .zoo.registry import CHECKPOINTS, Checkpoint, ZooEntry, get_entry, list_entries

__version__ = "0.1.0"

__all__ = [
    "CHECKPOINTS", "Checkpoint", "CorruptStreamError", "DigestMismatchError", "EncodeResult", "LicZooError", "LicZooWarning", "LimitExceededError",
    "Limits", "MSPCodec", "MSPOutput", "ModelMismatchError", "OutputError", "PROFILES", "Profile", "UnknownModelError",
    "UnsupportedInputError", "WeightsNameError", "WeightsUnavailableError", "ZooEntry", "decode", "decode_file", "get_entry",
    "list_entries", "load", "load_local",
]
