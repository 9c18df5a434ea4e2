"""``lic-zoo compress | decompress | info | models``."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .. import bitstream
from ..codec import MSPCodec
from ..errors import ModelMismatchError, OutputError, UnknownModelError
from ..image_io import atomic_write, open_image, output_format, require_file, write_image
from ..registry import METRICS, MODELS, list_entries
from ..zoo import DEFAULT_QUALITY, codec_for_stream, load, load_local
from . import non_negative_int


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("compress", help="compress an image file (PNG, JPEG, WebP, TIFF, ...) to a .lic file")
    p.add_argument("input", type=Path)
    p.add_argument("output", type=Path)
    p.add_argument("--model", default="msp-lite", help="zoo model name (see `lic-zoo models`)")
    p.add_argument("--quality", type=int, default=DEFAULT_QUALITY)
    p.add_argument("--metric", default="mse", choices=METRICS)
    p.add_argument("--weights", type=Path, help="use exported weights from this folder instead of the zoo's")
    p.add_argument("--lof-steps", type=non_negative_int, metavar="N",
                   help="latent-overfitting steps (slower encoding, fewer bits; default: the profile's, 0 = off)")
    p.add_argument("--lof-seconds", type=float, metavar="S", help="stop latent overfitting after S seconds")
    _add_limit_options(p)
    p.set_defaults(func=_compress)

    p = subparsers.add_parser("decompress", help="decode a .lic file to PNG, TIFF, BMP, PPM or lossless WebP "
                              "(format from OUT's suffix; the model is read from the header)")
    p.add_argument("input", type=Path)
    p.add_argument("output", type=Path)
    p.add_argument("--weights", type=Path, help="exported weights folder for streams made with non-zoo weights")
    _add_limit_options(p)
    p.set_defaults(func=_decompress)

    p = subparsers.add_parser("info", help="describe a .lic file: model, size, bpp, substreams")
    p.add_argument("input", type=Path)
    p.set_defaults(func=_info)

    p = subparsers.add_parser("models", help="list the zoo")
    p.add_argument("--all", action="store_true", help="include entries without published weights")
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
    return load(args.model, quality=args.quality, metric=args.metric)


def _compress(args: argparse.Namespace) -> int:
    _refuse_overwriting_input(args)
    limits = _limits(args)
    image = open_image(args.input, limits)  # read (and validate) before the model is loaded
    codec = _codec(args)
    codec.limits = limits
    data = codec.compress(image, lof_steps=args.lof_steps, lof_seconds=args.lof_seconds, progress=sys.stderr.isatty())
    atomic_write(args.output, data)
    w, h = image.size
    print(f"{args.output}: {len(data)} bytes, {8 * len(data) / (h * w):.4f} bpp ({codec.model_name} q{codec.quality})")
    return 0


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
    rows = [e for e in list_entries() if args.all or e.published is not None]
    print(f"{'name':<22} {'profile':<7} {'metric':<8} {'q':>2} {'lambda':>8} {'steps':>5}  {'weights':<9} {'bpp':>6} {'PSNR':>6}")
    for e in rows:
        pub = e.published
        where = "-" if pub is None else ("embedded" if pub.embedded else "hub")
        bpp = f"{pub.bpp:.3f}" if pub and pub.bpp is not None else "-"
        psnr = f"{pub.psnr:.2f}" if pub and pub.psnr is not None else "-"
        print(f"{e.id:<22} {e.profile.name:<7} {e.metric:<8} {e.quality:>2} {e.lmbda:>8.4g} "
              f"{e.profile.context_calls:>5}  {where:<9} {bpp:>6} {psnr:>6}")
    if not rows:
        print("no published checkpoints yet; `lic-zoo models --all` lists every entry of the zoo table")
    return 0
