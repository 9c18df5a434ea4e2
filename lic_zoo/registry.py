"""The zoo table: every named codec, its training target and, once published, where its weights live.

Everything else (``lic_zoo.load``, ``hubconf.py``, ``lic-zoo models``, the docs and the tests) reads this
module; nothing about a zoo entry is declared anywhere else.
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import UnknownModelError
from .profiles import PROFILES, Profile

METRICS = ("mse", "ms-ssim")

# Rate-distortion trade-off per quality index. MSE: loss = R + lambda * 255^2 * MSE;
# MS-SSIM: loss = R + lambda * (1 - MS-SSIM). The same ladders as CompressAI, so curves are comparable.
LAMBDAS: dict[str, dict[int, float]] = {
    "mse": {1: 0.0018, 2: 0.0035, 3: 0.0067, 4: 0.013, 5: 0.025, 6: 0.0483, 7: 0.0932, 8: 0.18},
    "ms-ssim": {1: 2.40, 2: 4.58, 3: 8.73, 4: 16.64, 5: 31.73, 6: 60.50, 7: 115.37, 8: 220.0},
}

HUB_ORG = "lic-zoo"


@dataclass(frozen=True)
class Published:
    """Where a trained checkpoint lives and what it measured."""

    sha256: str  # sha256 of model.safetensors
    embedded: bool  # shipped inside the package (lic_zoo/weights/<id>/)
    revision: str | None = None  # pinned Hub commit; None while the checkpoint is not on the Hub
    bpp: float | None = None  # measured on shared/data/eval-768x512, no LOF
    psnr: float | None = None


@dataclass(frozen=True)
class ZooEntry:
    """One codec of the zoo: model family, profile, metric and quality."""

    model: str  # zoo name, e.g. "msp-lite"
    profile: Profile
    metric: str
    quality: int
    lmbda: float
    published: Published | None

    @property
    def id(self) -> str:
        """Unique identifier, also the stem of file names: ``msp-lite-mse-q3``."""
        return f"{self.model}-{self.metric}-q{self.quality}"

    @property
    def hub_repo(self) -> str:
        return f"{HUB_ORG}/{self.id}"


# Trained checkpoints, keyed by (model, metric, quality). Filled in as checkpoints are trained and published.
_EMBEDDED_LITE_MSE = (  # quality, sha256 of model.safetensors, dev-set bpp and PSNR-RGB without LOF
    (1, "d6fa44e19a869179889e50325bd41b1e98d8f08a8a320469c23c2b8e7d25f90d", 0.2981, 28.99),
    (2, "ff645a01a3a7f71b99c950929ba7d9f960c64369bd4918295ba694be7960445f", 0.3405, 30.23),
    (3, "833929333733e2b22ae97cc5aade4072950831ff7633801d2f32aae51989c9f5", 0.4312, 30.95),
    (4, "be9bb36dae2f43a92c08419d35e3adbb61863d151bcb0d5694cdf5644b903fd5", 0.4733, 32.01),
    (5, "52fc8dd9c62222fb9197de6f1025c5d2813731c8fe6ca953f4ad070d52773ab4", 0.5360, 32.98),
    (6, "b7e5f515d06e3d7ffe627b4c125bc64290d92375f48352e7034796efbbb0aec1", 0.6372, 33.99),
)
PUBLISHED: dict[tuple[str, str, int], Published] = {
    ("msp-lite", "mse", q): Published(sha256=sha, embedded=True, bpp=bpp, psnr=psnr)
    for q, sha, bpp, psnr in _EMBEDDED_LITE_MSE
}

MODELS: dict[str, Profile] = {f"msp-{name}": profile for name, profile in PROFILES.items()}


def _build_table() -> dict[tuple[str, str, int], ZooEntry]:
    return {
        (model, metric, q): ZooEntry(model, profile, metric, q, lmbda, PUBLISHED.get((model, metric, q)))
        for model, profile in MODELS.items()
        for metric, ladder in LAMBDAS.items()
        for q, lmbda in ladder.items()
    }


ZOO: dict[tuple[str, str, int], ZooEntry] = _build_table()


def get_entry(model: str, *, quality: int, metric: str = "mse") -> ZooEntry:
    """Look up a zoo entry; raises :class:`UnknownModelError` with the valid choices."""
    if model not in MODELS:
        raise UnknownModelError(f"unknown model {model!r}; choose from {', '.join(MODELS)}")
    if metric not in LAMBDAS:
        raise UnknownModelError(f"unknown metric {metric!r}; choose from {', '.join(METRICS)}")
    if isinstance(quality, bool) or not isinstance(quality, int) or (model, metric, quality) not in ZOO:
        qualities = sorted(LAMBDAS[metric])
        raise UnknownModelError(
            f"unknown quality {quality!r} for {model} ({metric}); choose from {qualities[0]}..{qualities[-1]}"
        )
    return ZOO[(model, metric, quality)]


def list_entries() -> list[ZooEntry]:
    return list(ZOO.values())
