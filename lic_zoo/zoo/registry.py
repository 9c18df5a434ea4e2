"""The zoo table: every named codec, its training targets and every published checkpoint.

Everything else (``lic_zoo.load``, ``hubconf.py``, ``lic-zoo models``, the docs and the tests) reads this
module; nothing about a model or a checkpoint is declared anywhere else. Adding either is one declarative line: a
``Profile`` in :data:`lic_zoo.model.profiles.PROFILES` (its model and training targets follow), a
:class:`Checkpoint` in :data:`CHECKPOINTS`.

- A *model* is an architecture (``msp-lite``: a profile).
- A *zoo entry* is a training target of a model: one metric and one integer quality of its lambda ladder.
- A *checkpoint* is one published set of weights. It serves a range of qualities: one for a fixed-rate checkpoint,
  a continuous range for a variable-rate one. ``lic_zoo.load`` picks the *default* checkpoint serving the asked
  quality; checkpoints kept only so that older files still decode are not defaults. Streams find their checkpoint
  by the weights digest in their header.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from ..errors import UnknownModelError, WeightsUnavailableError
from ..model.profiles import PROFILES, Profile
from ..model.rate import LAMBDAS, snap_quality

METRICS = tuple(LAMBDAS)
HUB_ORG = "lic-zoo"


class _Models(Mapping[str, Profile]):
    """The zoo's models by name (``msp-lite``), read from :data:`~lic_zoo.model.profiles.PROFILES` at each use: a
    profile added there is a model here, with its training targets, and nothing else needs declaring."""

    def __getitem__(self, model: str) -> Profile:
        for profile in PROFILES.values():
            if profile.model_name == model:
                return profile
        raise KeyError(model)

    def __iter__(self) -> Iterator[str]:
        return (profile.model_name for profile in PROFILES.values())

    def __len__(self) -> int:
        return len(PROFILES)


MODELS: Mapping[str, Profile] = _Models()


@dataclass(frozen=True)
class Measured:
    """One point measured on ``shared/data/eval-768x512`` (mean whole-file bpp, mean PSNR-RGB, no LOF)."""

    quality: float
    bpp: float
    psnr: float


@dataclass(frozen=True)
class Checkpoint:
    """One published set of weights: where it lives, what it serves and what it measured."""

    id: str  # folder name under lic_zoo/weights/ and Hub repo name
    model: str
    metric: str
    qualities: tuple[float, float]  # the range it serves; (q, q) for a fixed-rate checkpoint
    sha256: str  # of model.safetensors
    stream_digest: str  # hex weights digest its streams carry (MSPCodec.weights_digest)
    embedded: bool = True  # shipped inside the package (lic_zoo/weights/<id>/)
    revision: str | None = None  # pinned Hub commit; None while it is not on the Hub
    default: bool = True  # what lic_zoo.load picks for its qualities; False: kept to decode older files
    measured: tuple[Measured, ...] = ()
    recipe: str | None = None
    training_doc: str | None = None

    @property
    def variable_rate(self) -> bool:
        return self.qualities[0] != self.qualities[1]

    @property
    def hub_repo(self) -> str:
        return f"{HUB_ORG}/{self.id}"

    @property
    def profile(self) -> Profile:
        return MODELS[self.model]

    def serves(self, quality: float) -> bool:
        return self.qualities[0] <= quality <= self.qualities[1]


def _points(rows: list[tuple[float, float, float]]) -> tuple[Measured, ...]:
    return tuple(Measured(*row) for row in rows)


def _fixed_rate(quality: int, sha256: str, stream_digest: str, bpp: float, psnr: float) -> Checkpoint:
    """One network of the fixed-rate zoo, now decode-only."""
    return Checkpoint(f"msp-lite-mse-q{quality}", "msp-lite", "mse", (quality, quality), sha256, stream_digest,
                      default=False, measured=(Measured(quality, bpp, psnr),), recipe="recipes/msp-lite.yaml",
                      training_doc="docs/training/msp-lite-zoo.md")


def _variable_rate(id: str, top: int, sha256: str, stream_digest: str, rows: list[tuple[float, float, float]],
                   default: bool = False) -> Checkpoint:
    """One variable-rate msp-lite network for the MSE qualities 0 to ``top``."""
    return Checkpoint(id, "msp-lite", "mse", (0, top), sha256, stream_digest, default=default,
                      measured=_points(rows), recipe="recipes/msp-lite-variable.yaml",
                      training_doc="docs/training/msp-lite-variable.md")


CHECKPOINTS: tuple[Checkpoint, ...] = (
    # One variable-rate msp-lite for every MSE quality from 0 to 9 (docs/training/msp-lite-variable.md).
    _variable_rate("msp-lite-mse", 9, "54184c15998d261e078d12ac2b182d72369938500e3911b5c88749d578bd95c7",
                   "63f56b16c45530ca", [(0, 0.1158, 29.45), (1, 0.1766, 31.28), (2, 0.2394, 32.59),
                                        (3, 0.2835, 33.24), (4, 0.3866, 34.52), (5, 0.4672, 35.18),
                                        (6, 0.5707, 35.73), (7, 0.6839, 36.13), (8, 0.8175, 36.42),
                                        (9, 0.9967, 36.65)], default=True),
    # The default of sessions 9 and 10 (vr8, qualities 0-9): kept so that its files decode.
    _variable_rate("msp-lite-mse-v2", 9, "76f1e9b5202f8dfa493a6507f8f3ce9915bb451e0f18682e6b2e264a355ee6a1",
                   "0ad7f3567d5482d8", [(0, 0.1177, 29.26), (1, 0.1772, 31.10), (2, 0.2427, 32.38),
                                        (3, 0.2788, 32.95), (4, 0.3914, 34.23), (5, 0.4710, 34.87),
                                        (6, 0.5758, 35.41), (7, 0.6885, 35.79), (8, 0.8228, 36.07),
                                        (9, 0.9995, 36.30)]),
    # The first variable-rate msp-lite (qualities 0-8), the default of session 7: kept so that its files decode.
    _variable_rate("msp-lite-mse-v1", 8, "01e605460c69568dc25bbad0949e460b253c687e3411a0d57fedc492588f05c1",
                   "bf4c2a942a68d1c7", [(0, 0.1263, 28.34), (1, 0.1744, 29.99), (2, 0.2300, 31.17),
                                        (3, 0.2883, 32.09), (4, 0.3789, 33.04), (5, 0.4640, 33.73),
                                        (6, 0.5739, 34.23), (7, 0.7094, 34.58), (8, 0.8802, 34.82)]),
    # The fixed-rate msp-lite zoo of sessions 1-4 (docs/training/msp-lite-zoo.md), the default until session 7:
    # kept so that the files written with it still decode.
    _fixed_rate(1, "805d9b7b29bb6ed4afb102b2c144b30fdefa3cfff24b689a339606ced1724c3b", "575136a5f45bfaa8",
                0.2294, 28.93),
    _fixed_rate(2, "ca70445f471519160afb75e945b6b71d10e3d88dbee5eb3508f54b20ee01baf9", "c792e86cb690e88f",
                0.2301, 29.02),
    _fixed_rate(3, "4eefa82326f3dbd816f45e8c44eb91ad4a9aae42b897f9e8ca12025d704e6f57", "53c6158beb6a3c8f",
                0.3256, 30.99),
    _fixed_rate(4, "0480b636b54111f17ed8af305ce261bc1617a09e2f136543eb0e3da914ef9e5c", "a22b1d7c388da5b6",
                0.4341, 31.98),
    _fixed_rate(5, "2b8f506717df45982714c2c3157e9318ab844c0e45356691478ad8f1f1e5ae5c", "2310e6c404f95655",
                0.5357, 33.92),
    _fixed_rate(6, "6d8c41a4229bae8427513964db9fd59198001fe93aab2900338dc1e8e7c4fcd0", "c9d070560d4e3df1",
                0.6348, 34.92),
)


@dataclass(frozen=True)
class ZooEntry:
    """One training target of the zoo: model, metric and integer quality of its lambda ladder."""

    model: str  # zoo name, e.g. "msp-lite"
    profile: Profile
    metric: str
    quality: int
    lmbda: float

    @property
    def id(self) -> str:
        """Identifier of a fixed-rate checkpoint of this target: ``msp-lite-mse-q3``."""
        return f"{self.model}-{self.metric}-q{self.quality}"

    @property
    def published(self) -> Checkpoint | None:
        """The default checkpoint serving this target's quality, if any."""
        return default_checkpoint(self.model, self.metric, self.quality)


def check_model(model: str, metric: str = "mse") -> Profile:
    """The profile of zoo model ``model``; :class:`UnknownModelError` naming the choices."""
    if model not in MODELS:
        raise UnknownModelError(f"unknown model {model!r}; choose from {', '.join(MODELS)}")
    if metric not in LAMBDAS:
        raise UnknownModelError(f"unknown metric {metric!r}; choose from {', '.join(METRICS)}")
    return MODELS[model]


def quality_range(metric: str) -> tuple[int, int]:
    """The lowest and highest quality of ``metric``'s lambda ladder."""
    return min(LAMBDAS[metric]), max(LAMBDAS[metric])


def get_entry(model: str, *, quality: int, metric: str = "mse") -> ZooEntry:
    """Look up a training target; raises :class:`UnknownModelError` with the valid choices."""
    profile = check_model(model, metric)
    if isinstance(quality, bool) or not isinstance(quality, int) or quality not in LAMBDAS[metric]:
        low, high = quality_range(metric)
        raise UnknownModelError(f"unknown quality {quality!r} for {model} ({metric}); choose an integer from "
                                f"{low}..{high}{_weights_note(model, metric)}")
    return ZooEntry(model, profile, metric, quality, LAMBDAS[metric][quality])


def list_entries() -> list[ZooEntry]:
    """Every training target: each model, metric and integer quality of the metric's ladder."""
    return [ZooEntry(model, profile, metric, quality, lmbda) for model, profile in MODELS.items()
            for metric, ladder in LAMBDAS.items() for quality, lmbda in ladder.items()]


def default_checkpoint(model: str, metric: str, quality: float) -> Checkpoint | None:
    """The checkpoint ``lic_zoo.load`` uses for ``quality``, or None."""
    return next((c for c in CHECKPOINTS if (c.model, c.metric) == (model, metric) and c.default and c.serves(quality)),
                None)


def find_checkpoint(model: str, metric: str, quality: float) -> Checkpoint:
    """:func:`default_checkpoint`, or :class:`WeightsUnavailableError` saying which qualities have weights."""
    check_model(model, metric)
    quality = snap_quality(quality)
    checkpoint = default_checkpoint(model, metric, quality)
    if checkpoint is None:
        low, high = quality_range(metric)
        if not low <= quality <= high:
            raise UnknownModelError(f"unknown quality {quality!r} for {model} ({metric}); choose from "
                                    f"{low}..{high}{_weights_note(model, metric)}")
        raise WeightsUnavailableError(f"no pretrained weights serve {model} ({metric}) at quality {quality}"
                                      f"{_weights_note(model, metric)}")
    return checkpoint


def checkpoint_for_stream(model: str, metric: str, digest: bytes) -> Checkpoint | None:
    """The published checkpoint whose weights made a stream (by the digest in its header), default or not."""
    return next((c for c in CHECKPOINTS if (c.model, c.metric, c.stream_digest) == (model, metric, digest.hex())),
                None)


def served_qualities(model: str, metric: str) -> list[str]:
    """What the default checkpoints of ``model`` serve, as text: ``["0..8"]`` or ``["1", "2"]``."""
    ranges = [c.qualities for c in CHECKPOINTS if (c.model, c.metric) == (model, metric) and c.default]
    return [quality_span(r) for r in sorted(ranges)]


def quality_span(qualities: tuple[float, float], separator: str = "..") -> str:
    """A range of qualities as text: ``"3"`` for one quality, ``"0..8"`` for a range."""
    low, high = qualities
    return f"{low:g}" if low == high else f"{low:g}{separator}{high:g}"


def _weights_note(model: str, metric: str) -> str:
    served = served_qualities(model, metric)
    if served:
        return f"; pretrained weights serve {', '.join(served)}"
    return ("; no pretrained weights are published yet: train one (docs/training.md) and load its exported folder "
            "(--weights DIR, lic_zoo.load_local(DIR))")
