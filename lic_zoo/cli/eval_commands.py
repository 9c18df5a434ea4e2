"""``lic-zoo eval | bdrate | plot``: rate-distortion evaluation of zoo and classic codecs."""
from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import CodecUnavailableError, InvalidCurveError, UnknownModelError
from ..evaluation.bdrate import METHODS, METRICS, Curve, bd_rate_curves, read_curve
from ..evaluation.classic import CODECS, ClassicCodec
from ..evaluation.runner import ZooCodec, list_images, run
from ..model.rate import snap_quality
from ..zoo.registry import CHECKPOINTS, MODELS, quality_range
from ..zoo.registry import METRICS as MODEL_METRICS
from . import EXIT_ERROR, non_negative_int


def register(subparsers: argparse._SubParsersAction) -> None:
    codecs = ", ".join([*CODECS, *MODELS])
    p = subparsers.add_parser("eval", help="measure codecs on a folder of images (bpp, PSNR, MS-SSIM, times)")
    p.add_argument("dataset", type=Path, help="folder of PNG/PPM/BMP/TIFF images")
    p.add_argument("--codec", action="append", default=[], metavar="NAME[,NAME...]",
                   help=f"codec(s) to run, repeatable or comma-separated: {codecs}")
    p.add_argument("--qualities", type=_quality_list, metavar="LIST",
                   help="zoo codecs: qualities, e.g. 0-8, 1,3,5 or 2.5 for a variable-rate codec (default: the "
                        "integer qualities its weights serve)")
    p.add_argument("--metric", default="mse", choices=MODEL_METRICS, help="zoo codecs: training metric")
    p.add_argument("--lof-steps", type=non_negative_int, metavar="N", help="zoo codecs: latent-overfitting steps per image "
                   "(default: the profile's)")
    p.add_argument("--weights", type=Path, action="append", metavar="DIR",
                   help="zoo codecs: evaluate exported checkpoint folders (repeatable, one per quality) instead of "
                        "the published weights; --codec and --qualities then come from their config.json")
    p.add_argument("--settings", type=_numbers, metavar="LIST",
                   help="classic codecs: replace the codec's sweep, e.g. 20,50,80 (JPEG qualities)")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N images (sorted by name)")
    p.add_argument("-o", "--output", type=Path, default=Path("results"), help="folder for the JSON files")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_eval)

    p = subparsers.add_parser("bdrate", help="Bjøntegaard delta rate between results files")
    p.add_argument("files", nargs="+", type=Path,
                   help="results JSON files; without --anchor the first is the anchor for the others")
    p.add_argument("--anchor", action="append", type=Path, metavar="FILE",
                   help="anchor results file (repeatable: one column each); then every FILE is a test")
    p.add_argument("--metric", default="psnr-rgb", choices=METRICS)
    p.add_argument("--method", default="both", choices=[*METHODS, "both"], help="curve model (default: both)")
    p.add_argument("--markdown", action="store_true", help="print a markdown table")
    p.set_defaults(func=_bdrate)

    p = subparsers.add_parser("plot", help="plot rate-distortion curves of results files")
    p.add_argument("files", nargs="+", type=Path, help="results JSON files, one line each")
    p.add_argument("-o", "--output", type=Path, required=True, help="image file to write (.png, .svg, .pdf)")
    p.add_argument("--metric", default="psnr-rgb", choices=METRICS)
    p.add_argument("--title")
    p.add_argument("--max-bpp", type=float, help="cut the rate axis here")
    p.set_defaults(func=_plot)


def _quality_list(text: str) -> list[float]:
    """``"1-3,6"`` -> ``[1, 2, 3, 6]``; fractional qualities of a variable-rate codec too: ``"0.5,2.25"``."""
    values: list[float] = []
    try:
        for part in filter(None, text.split(",")):
            first, _, last = part.partition("-")
            if last:
                values.extend(range(int(first), int(last) + 1))
            else:
                values.append(snap_quality(float(first)))
    except (ValueError, UnknownModelError):
        raise argparse.ArgumentTypeError(f"not a list of qualities or integer ranges: {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("empty list")
    return values


def _numbers(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("empty list")
    return values


def _classic_settings(codec: type[ClassicCodec], override: Sequence[float] | None) -> list[Any]:
    """The codec's sweep, or the override with integers kept integral when the codec's sweep is integral."""
    if override is None:
        return list(codec.settings)
    integral = all(isinstance(s, int) for s in codec.settings)
    return [int(v) if integral and v.is_integer() else v for v in override]


def _codec_names(args: argparse.Namespace) -> list[str]:
    """The requested codec names, checked (names, zoo qualities) before any work starts."""
    names = [name for spec in args.codec for name in spec.split(",") if name]
    for name in names:
        if name not in CODECS and name not in MODELS:
            raise UnknownModelError(f"unknown codec {name!r}; choose from {', '.join([*CODECS, *MODELS])}")
        if name in MODELS:
            low, high = quality_range(args.metric)
            for q in args.qualities or ():
                if not low <= q <= high:
                    raise UnknownModelError(f"quality {q:g} is outside {name}'s range {low}..{high} ({args.metric})")
    return names


def _local_checkpoints(args: argparse.Namespace) -> None:
    """With --weights: set --codec/--qualities from the folders and a loader that reads them. A variable-rate
    folder serves the --qualities asked (default: the integers of its range)."""
    from ..zoo import load_local

    codecs = {}
    for folder in args.weights:
        codec = load_local(folder)
        if codec.variable_rate:
            low, high = codec.qualities
            for q in args.qualities or range(low, high + 1):
                codec.check_quality(q)
                codecs[(codec.model_name, codec.metric, q)] = folder
        else:
            codecs[(codec.model_name, codec.metric, codec.quality)] = folder
    models = {model for model, _, _ in codecs}
    metrics = {metric for _, metric, _ in codecs}
    if len(models) != 1 or len(metrics) != 1:
        raise UnknownModelError(f"--weights folders must share one model and metric, got {sorted(codecs)}")
    args.codec, args.metric = [models.pop()], metrics.pop()
    args.qualities = sorted(q for _, _, q in codecs)

    def loader(model: str, *, quality: float, metric: str, pretrained: bool) -> Any:
        codec = load_local(codecs[(model, metric, quality)])
        codec.quality = quality
        return codec

    args.loader = loader


def _eval(args: argparse.Namespace) -> int:
    args.loader = None
    if args.weights:
        _local_checkpoints(args)
    names = _codec_names(args)
    if not names:
        raise UnknownModelError("name the codecs to run with --codec (or give exported checkpoints with --weights)")
    images = list_images(args.dataset, args.limit)
    ran = 0
    for name in names:
        if name in CODECS:
            cls = CODECS[name]
            if not cls.available():
                print(f"lic-zoo eval: skipping {name}: needs {cls.requires}", file=sys.stderr)
                continue
            codec, settings, stem = cls(), _classic_settings(cls, args.settings), name
        else:
            settings = args.qualities or _served_integers(name, args.metric)
            codec = ZooCodec(name, settings, metric=args.metric, lof_steps=args.lof_steps, loader=args.loader)
            stem = f"{name}-{args.metric}" + ("" if args.lof_steps is None else f"-lof{args.lof_steps}")
        path, summary = run(codec, settings, images, args.output, stem, progress=not args.no_progress)
        _print_summary(path, summary)
        ran += 1
    if not ran:
        raise CodecUnavailableError("none of the requested codecs is available here (pip install 'lic-zoo[bench]')")
    return 0


def _print_summary(path: Path, summary: dict[str, Any]) -> None:
    res = summary["results"]
    print(f"{path}: {summary['name']}, {summary['meta']['n_images']} images")
    print(f"  {summary['setting_name']:>12}  {'bpp':>7}  {'PSNR':>7}  {'MS-SSIM':>7}  {'enc s':>7}  {'dec s':>7}")
    fmt = {"bpp": "{:7.4f}", "psnr-rgb": "{:7.3f}", "ms-ssim-rgb": "{:7.5f}", "encoding_time": "{:7.3f}",
           "decoding_time": "{:7.3f}"}
    for i, setting in enumerate(summary["settings"]):
        cells = ["    n/a" if res[k][i] is None else f.format(res[k][i]) for k, f in fmt.items()]
        print(f"  {setting!s:>12}  " + "  ".join(cells))


def _bdrate(args: argparse.Namespace) -> int:
    anchors = args.anchor or args.files[:1]
    tests = args.files if args.anchor else args.files[1:]
    if not tests:
        raise InvalidCurveError("give an anchor and at least one test results file")
    methods = METHODS if args.method == "both" else (args.method,)
    anchor_curves = [read_curve(p, args.metric) for p in anchors]
    header = ["codec"] + [f"vs {a.name}" + (f" ({m})" if len(methods) > 1 else "") for a in anchor_curves
                          for m in methods]
    rows, failed = [], False
    for path in tests:
        test = read_curve(path, args.metric)
        row = [test.name]
        for anchor in anchor_curves:
            cells = [_bd_rate_cell(anchor, test, method) for method in methods]
            failed |= all(cell == "n/a" for cell in cells)  # a pair fails when no requested method applies
            row.extend(cells)
        rows.append(row)
    print(f"BD-rate ({args.metric}, {' and '.join(methods)}; negative = fewer bits than the anchor)")
    print(_format_table(header, rows, markdown=args.markdown))
    return EXIT_ERROR if failed else 0


def _bd_rate_cell(anchor: Curve, test: Curve, method: str) -> str:
    """One table cell: the BD-rate in percent, or ``n/a`` with the reason on stderr."""
    try:
        return f"{bd_rate_curves(anchor, test, method):+.2f} %"
    except InvalidCurveError as exc:
        print(f"lic-zoo bdrate: {test.name} vs {anchor.name} ({method}): {exc}", file=sys.stderr)
        return "n/a"


def _format_table(header: list[str], rows: list[list[str]], *, markdown: bool) -> str:
    if markdown:
        lines = [header, ["---"] + ["---:"] * (len(header) - 1), *rows]
        return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
                     for r in [header, *rows])


def _plot(args: argparse.Namespace) -> int:
    from ..evaluation.plot import plot_rd

    path = plot_rd(args.files, args.output, metric=args.metric, title=args.title, max_bpp=args.max_bpp)
    print(f"{path}: {len(args.files)} curves ({args.metric})")
    return 0


def _served_integers(model: str, metric: str) -> list[int]:
    """The integer qualities the default checkpoints of ``model`` serve (all of the ladder if none)."""
    served = sorted({q for c in CHECKPOINTS if (c.model, c.metric) == (model, metric) and c.default
                     for q in range(math.ceil(c.qualities[0]), math.floor(c.qualities[1]) + 1)})
    low, high = quality_range(metric)
    return served or list(range(low, high + 1))
