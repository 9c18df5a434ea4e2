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
    (1, "538f35c89f980049156047f309233843aae47d38eb31405b830ef3293897bdcb", 0.2560, 28.13),
    (2, "acddf241b4a7f76f9cce09c161c7bab65436c1fc4b60f3ccaf87ba03dec126f0", 0.3219, 30.46),
    (3, "adec65adde6b2eaadb795f5ee4759696727d7c026583091d4c76dd6178c44b5d", 0.3539, 31.22),
    (4, "eabf8f12c5c3a698ee25eaf525d6a0d404e03a702141fb4721a49f23f16acd48", 0.4719, 32.37),
    (5, "2ad30c212fe6b013ecc5c37f3dd8b4c46670f6e0854c9a5cc7ae87bf6b0412bb", 0.6095, 33.36),
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
        raise UnknownModelError(
            f"unknown quality {quality!r} for {model} ({metric}); choose from {qualities[0]}..{qualities[-1]}"
        )
    return ZOO[(model, metric, quality)]


def list_entries() -> list[ZooEntry]:
    return list(ZOO.values())
