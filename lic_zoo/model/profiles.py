"""Profiles: the architecture hyper-parameters of each point on the efficiency/complexity curve."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..errors import UnknownModelError


@dataclass(frozen=True)
class Profile:
    """Architecture of one MSP codec profile.

    ``groups`` lists the channel count of each channel group decoded one after another inside a phase
    (seed channels first); it sums to ``latent_channels``.
    """

    name: str
    width: int  # N: channels of the analysis/synthesis transforms
    latent_channels: int  # C
    scales: int  # S: number of subsampled scales above the full-resolution latent
    groups: tuple[int, ...]
    context_width: int
    context_blocks: int
    hidden_channels: int  # hidden state carried from step to step by the context network
    transform_blocks: int  # residual blocks per transform stage
    # Default latent-overfitting budget: encoder policy, not architecture, so it is neither compared nor stored
    # in a checkpoint's config; loading a checkpoint gives the library's current default for its profile.
    lof_steps: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if sum(self.groups) != self.latent_channels:
            raise ValueError(f"profile {self.name}: groups {self.groups} do not sum to {self.latent_channels}")

    @property
    def model_name(self) -> str:
        """The zoo name of this profile's codec: ``msp-lite``."""
        return f"msp-{self.name}"

    @property
    def context_calls(self) -> int:
        """Sequential context-network calls per decode: scales x 3 phases x channel groups."""
        return self.scales * 3 * len(self.groups)

    def to_dict(self) -> dict:
        """The architecture (what a checkpoint's config.json stores)."""
        data = asdict(self)
        del data["lof_steps"]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Profile":
        data = dict(data)
        data.pop("lof_steps", None)  # written by older versions
        data["groups"] = tuple(data["groups"])
        known = PROFILES.get(data.get("name"))
        return cls(**data, lof_steps=known.lof_steps if known is not None else 0)


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(name="lite", width=64, latent_channels=96, scales=2, groups=(96,), context_width=64,
                context_blocks=2, hidden_channels=16, transform_blocks=0, lof_steps=10),  # docs/lof.md
        Profile(name="base", width=128, latent_channels=192, scales=3, groups=(32, 160), context_width=128,
                context_blocks=3, hidden_channels=32, transform_blocks=1),
        Profile(name="extra", width=192, latent_channels=320, scales=4, groups=(16, 64, 240), context_width=192,
                context_blocks=5, hidden_channels=48, transform_blocks=2),
    )
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise UnknownModelError(f"unknown profile {name!r}; choose from {', '.join(PROFILES)}") from None
