"""``lic-zoo compress | decompress | info | models``."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..codec import EncodeResult, MSPCodec
from ..coding import bitstream
from ..errors import ModelMismatchError, OutputError, UnknownModelError
from ..image_io import atomic_write, open_image, output_format, require_file, write_image
from ..zoo import DEFAULT_QUALITY, codec_for_stream, load, load_local
from ..zoo.registry import CHECKPOINTS, METRICS, MODELS, quality_span
from . import non_negative_int, positive_float, quality_value

WEIGHTS_HELP = "an exported folder, a training .ckpt, a checkpoint id or hf-hub:ORG/NAME[@REVISION]"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("compress", help="compress an image file (PNG, JPEG, WebP, TIFF, ...) to a .lic file")
    p.add_argument("input", type=Path)
    p.add_argument("output", type=Path)
    p.add_argument("--model", default="msp-lite", help="zoo model name (see `lic-zoo models`)")
    rate = p.add_mutually_exclusive_group()
    rate.add_argument("--quality", type=quality_value, metavar="Q",
                      help=f"quality; a variable-rate codec takes any in its range, e.g. 2.5 "
                           f"(default {DEFAULT_QUALITY}, or the --weights codec's own)")
    rate.add_argument("--target-bpp", type=positive_float, metavar="B",
                      help="search a variable-rate codec's qualities for B bits per pixel (whole file, within 3 %%)")
    rate.add_argument("--target-psnr", type=positive_float, metavar="D",
                      help="search a variable-rate codec's qualities for the fewest bits giving D dB PSNR-RGB or more")
    p.add_argument("--metric", default="mse", choices=METRICS)
    p.add_argument("--weights", metavar="WEIGHTS", help=f"use these weights instead of the zoo's: {WEIGHTS_HELP}")
    p.add_argument("--lof-steps", type=non_negative_int, metavar="N",
                   help="latent-overfitting steps (slower encoding, fewer bits; default: the profile's, 0 = off)")
    p.add_argument("--lof-seconds", type=float, metavar="S", help="stop latent overfitting after S seconds")
    _add_limit_options(p)
    p.set_defaults(func=_compress)

    p = subparsers.add_parser("decompress", help="decode a .lic file to PNG, TIFF, BMP, PPM or lossless WebP "
                              "(format from OUT's suffix; the model is read from the header)")
    p.add_argument("input", type=Path)
    p.add_argument("output", type=Path)
    p.add_argument("--weights", metavar="WEIGHTS", help=f"for streams made with non-zoo weights: {WEIGHTS_HELP}")
    _add_limit_options(p)
    p.set_defaults(func=_decompress)

    p = subparsers.add_parser("info", help="describe a .lic file: model, size, bpp, substreams")
    p.add_argument("input", type=Path)
    p.set_defaults(func=_info)

    p = subparsers.add_parser("models", help="list the zoo")
    p.add_argument("--all", action="store_true", help="also list the models without published weights")
    p.set_defaults(func=_models)


def _refuse_overwriting_input(args: argparse.Namespace) -> None:
    """:class:`OutputError` if OUT is IN itself (same path, hard link or symlink): nothing is written then."""
    try:
        same = os.path.samefile(args.input, args.output)
    except OSError:  # OUT does not exist yet (or IN does not: that is reported when it is read)
        return
    if same:
        raise OutputError(f"output {args.output} is the input file {args.input}; choose another output path")


def _add_limit_options(p: argparse.ArgumentParser) -> None:
    default = bitstream.Limits()
    p.add_argument("--max-pixels", type=int, default=default.max_pixels,
                   help=f"refuse larger images (default {default.max_pixels})")
    p.add_argument("--max-side", type=int, default=default.max_side,
                   help=f"refuse images with a longer side (default {default.max_side})")


def _limits(args: argparse.Namespace) -> bitstream.Limits:
    return bitstream.Limits(max_pixels=args.max_pixels, max_side=args.max_side)


def _codec(args: argparse.Namespace) -> MSPCodec:
    if args.weights is not None:
        return load_local(args.weights)
    return load(args.model, quality=DEFAULT_QUALITY if args.quality is None else args.quality, metric=args.metric)


def _compress(args: argparse.Namespace) -> int:
    _refuse_overwriting_input(args)
    limits = _limits(args)
    image = open_image(args.input, limits)  # read (and validate) before the model is loaded
    codec = _codec(args)
    codec.limits = limits
    result = codec.encode(image, quality=args.quality, target_bpp=args.target_bpp, target_psnr=args.target_psnr,
                          lof_steps=args.lof_steps, lof_seconds=args.lof_seconds, progress=sys.stderr.isatty())
    atomic_write(args.output, result.data)
    w, h = image.size
    size = f"{args.output}: {len(result.data)} bytes, {8 * len(result.data) / (h * w):.4f} bpp"
    if result.target_met is None:
        print(f"{size} ({codec.model_name} q{result.quality:g})")
        return 0
    target = f"{args.target_bpp:g} bpp" if args.target_bpp is not None else f"{args.target_psnr:g} dB PSNR"
    print(f"{size}, {result.psnr:.2f} dB PSNR-RGB ({codec.model_name} q{result.quality:g}; target {target} "
          f"{'met' if result.target_met else 'not met'}, {result.encodes} encodes)")
    if not result.target_met:
        print(f"lic-zoo compress: note: {_target_note(result, target, codec.qualities)}", file=sys.stderr)
    return 0


def _target_note(result: EncodeResult, target: str, qualities: tuple[int, int]) -> str:
    """One line on a target a search did not meet, and what was written instead."""
    reached = f"{result.bpp:.4f} bpp" if target.endswith("bpp") else f"{result.psnr:.2f} dB"
    for end, name in zip(qualities, ("lowest", "highest")):
        if result.quality == end:
            return (f"target {target} is out of this codec's reach (qualities {qualities[0]}..{qualities[1]}): its "
                    f"{name} quality gives {reached}; wrote that")
    return (f"target {target} not met within the tolerance after {result.encodes} encodes; wrote the closest, "
            f"{reached} at quality {result.quality:g}")


def _decompress(args: argparse.Namespace) -> int:
    _refuse_overwriting_input(args)
    output_format(args.output)  # refuse an unsupported suffix before decoding
    data = require_file(args.input).read_bytes()
    limits = _limits(args)
    codec = load_local(args.weights) if args.weights is not None else codec_for_stream(data, limits)
    try:
        image = codec.decompress_pil(data, limits=limits, progress=sys.stderr.isatty())
    except ModelMismatchError as exc:
        if args.weights is not None:
            raise
        raise type(exc)(f"{exc}; if it was made with your own exported weights, "
                                 "decode it with --weights DIR") from None
    write_image(image, args.output)
    print(f"{args.output}: {image.width}x{image.height} {image.mode}")
    return 0


def _info(args: argparse.Namespace) -> int:
    data = require_file(args.input).read_bytes()
    header, reader = bitstream.read_header(data)
    if header.model not in MODELS:
        raise UnknownModelError(f"stream names unknown model {header.model!r}")
    substreams = bitstream.read_substreams(reader, MODELS[header.model].scales + 1)
    pixels = header.height * header.width
    print(f"model:      {header.model} ({header.metric}, quality {header.quality})")
    print(f"weights:    {header.digest.hex()}")
    print(f"image:      {header.width}x{header.height} {header.layout}")
    print(f"size:       {len(data)} bytes, {8 * len(data) / pixels:.4f} bpp")
    print(f"header:     {len(data) - sum(map(len, substreams))} bytes (incl. checksum)")
    names = ["factorised"] + [f"scale {s}" for s in reversed(range(len(substreams) - 1))]
    for name, sub in zip(names, substreams):
        print(f"substream:  {name:<10} {len(sub):>8} bytes")
    return 0


def _models(args: argparse.Namespace) -> int:
    """One row per published checkpoint (defaults first); ``--all`` adds the models without weights."""
    checkpoints = sorted(CHECKPOINTS, key=lambda c: (c.model, c.metric, not c.default, c.qualities))
    print(f"{'checkpoint':<18} {'profile':<7} {'metric':<8} {'quality':>7} {'steps':>5}  {'weights':<8} {'use':<7} "
          f"{'bpp':>11} {'PSNR':>11}")
    for c in checkpoints:
        quality = quality_span(c.qualities, "-")
        where = "embedded" if c.embedded else "hub"
        bpp = _span([m.bpp for m in c.measured], "{:.3f}")
        psnr = _span([m.psnr for m in c.measured], "{:.2f}")
        print(f"{c.id:<18} {c.profile.name:<7} {c.metric:<8} {quality:>7} {c.profile.context_calls:>5}  {where:<8} "
              f"{'default' if c.default else 'decode':<7} {bpp:>11} {psnr:>11}")
    if args.all:
        for model, profile in MODELS.items():
            for metric in METRICS:
                if not any((c.model, c.metric) == (model, metric) for c in CHECKPOINTS):
                    print(f"{model + '-' + metric:<18} {profile.name:<7} {metric:<8} {'-':>7} "
                          f"{profile.context_calls:>5}  {'-':<8} {'train':<7} {'-':>11} {'-':>11}")
    print("use: default = what `--quality` loads; decode = kept so that files it made still decode")
    return 0


def _span(values: list[float], fmt: str) -> str:
    if not values:
        return "-"
    low, high = min(values), max(values)
    return fmt.format(low) if low == high else f"{fmt.format(low)}-{fmt.format(high)}"