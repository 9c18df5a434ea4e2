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
    (1, "805d9b7b29bb6ed4afb102b2c144b30fdefa3cfff24b689a339606ced1724c3b", 0.2294, 28.93),
    (2, "ca70445f471519160afb75e945b6b71d10e3d88dbee5eb3508f54b20ee01baf9", 0.2301, 29.02),
    (3, "4eefa82326f3dbd816f45e8c44eb91ad4a9aae42b897f9e8ca12025d704e6f57", 0.3256, 30.99),
    (4, "0480b636b54111f17ed8af305ce261bc1617a09e2f136543eb0e3da914ef9e5c", 0.4341, 31.98),
    (5, "2b8f506717df45982714c2c3157e9318ab844c0e45356691478ad8f1f1e5ae5c", 0.5357, 33.92),
    (6, "6d8c41a4229bae8427513964db9fd59198001fe93aab2900338dc1e8e7c4fcd0", 0.6348, 34.92),
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
        published = sorted(q for (m, me, q), e in ZOO.items() if (m, me) == (model, metric) and e.published)
        weights = f"; pretrained weights exist for {', '.join(map(str, published))}" if published else ""
        raise UnknownModelError(
            f"unknown quality {quality!r} for {model} ({metric}); choose from {qualities[0]}..{qualities[-1]}{weights}"
        )
    return ZOO[(model, metric, quality)]


def list_entries() -> list[ZooEntry]:
    return list(ZOO.values())
