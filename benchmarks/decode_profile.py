"""Where a 2K decode spends its time: the whole decode, one fixed-point context call per scale, the synthesis.

    python benchmarks/decode_profile.py [--weights lic_zoo/weights/msp-lite-mse-q3] [--threads 1] [--repeats 5]
        [--image ../shared/data/speed-2k/speed01-2048x1152.png]

Medians over ``--repeats``; context calls get random inputs of the shape they have in a decode of this image.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from lic_zoo.image_io import load_image
from lic_zoo.model.context import to_grid
from lic_zoo.model.msp import scale_shapes
from lic_zoo.model.transforms import latent_shape
from lic_zoo.zoo import load_local

sys.path.insert(0, str(Path(__file__).resolve().parent))
from decode_speed import DEFAULT_IMAGE, median_time  # noqa: E402  (a sibling script)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, default=Path("lic_zoo/weights/msp-lite-mse-q3"))
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    codec = load_local(args.weights)
    image = load_image(args.image)[0]
    height, width = image.shape[-2:]
    data = codec.compress(image, lof_steps=0)
    profile = codec.profile
    print(f"{args.weights} on {args.image.name} ({width}x{height}), {args.threads} thread(s), median of {args.repeats}")
    print(f"whole decode: {median_time(lambda: codec.decompress(data), args.repeats)[0]:.3f} s")
    exact = codec.entropy.context.exact()
    inputs = profile.latent_channels + len(profile.groups) + int(codec.variable_rate) + profile.hidden_channels
    with torch.no_grad():
        for scale, (h, w) in enumerate(scale_shapes(*latent_shape(height, width), profile.scales)[:-1]):
            x = to_grid(torch.randn(1, inputs, h, w, generator=torch.Generator().manual_seed(0)))
            seconds = median_time(lambda: exact(x), args.repeats)[0]
            print(f"context call, scale {scale} ({w}x{h}): {seconds:.3f} s x {3 * len(profile.groups)} calls")
        y = torch.zeros(1, profile.latent_channels, *latent_shape(height, width))
        print(f"synthesis: {median_time(lambda: codec.synthesize(y, height, width), args.repeats)[0]:.3f} s")


if __name__ == "__main__":
    main()
