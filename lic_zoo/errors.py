"""Typed errors. Every error lic_zoo raises on purpose derives from :class:`LicZooError`."""
from __future__ import annotations


class LicZooError(Exception):
    """Base class of all errors raised on purpose by lic_zoo."""


class UnknownModelError(LicZooError, KeyError):
    """The requested zoo name, profile, metric or quality does not exist."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class WeightsUnavailableError(LicZooError):
    """Pretrained weights for this zoo entry are not published, not cached, or cannot be fetched."""


class WeightsNameError(LicZooError, ValueError):
    """A weights name is malformed or could name two sources (``ORG/NAME`` that is also a local folder); the message
    gives the explicit spelling of each (see :mod:`lic_zoo.zoo.weights_source`)."""


class ModelMismatchError(LicZooError):
    """A stream or checkpoint was made by a different model or weights version."""


class DigestMismatchError(ModelMismatchError):
    """Weights on disk do not match the digest the registry or the stream expects."""


class CorruptStreamError(LicZooError):
    """A .lic stream is truncated, damaged or not a lic_zoo stream at all."""


class UnsupportedInputError(LicZooError, ValueError):
    """The input image (file, tensor or PIL image) cannot be handled."""


class LimitExceededError(LicZooError):
    """A size limit (pixels, header field, substream length) was exceeded."""


class OutputError(LicZooError):
    """An output path cannot be used: it is the input itself, or names a format lic_zoo does not write."""


class CorruptWeightsError(WeightsUnavailableError):
    """A weights or config file is present but unreadable (truncated, not safetensors, invalid JSON)."""


class PublishError(LicZooError):
    """Creating a Hub repo or uploading a checkpoint to it failed."""


class MissingDependencyError(LicZooError, ImportError):
    """An optional dependency (``pip install lic-zoo[bench]``) is not installed."""


class CodecUnavailableError(MissingDependencyError):
    """A classic codec's library or binary is missing, or it lacks the needed encoder."""


class InvalidCurveError(LicZooError, ValueError):
    """A results file or rate-distortion curve cannot be used (malformed, too few points, no overlap)."""


class ExternalCodecError(LicZooError):
    """A classic codec's library or binary failed on an input (the message carries its own error)."""


class LicZooWarning(UserWarning):
    """Input was used with a change the caller should know of (e.g. only the first frame of an animation)."""
