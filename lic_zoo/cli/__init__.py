"""The ``lic-zoo`` command line.

Each module of this package owns a group of subcommands and exposes ``register(subparsers)``, which adds
its parsers and sets ``func`` (a callable taking the parsed ``argparse.Namespace`` and returning an exit code).
Library errors become a one-line message on stderr and a non-zero exit, never a traceback; library warnings
(:class:`~lic_zoo.errors.LicZooWarning`) one line each. Start-up stays light: a command module imports what only
its command needs (Hub, evaluation, training) inside that command.
"""
from __future__ import annotations

import argparse
import math
import sys
import warnings
from collections.abc import Sequence

from .. import __version__
from ..errors import LicZooError, LicZooWarning

EXIT_ERROR = 1  # the library refused the input or the operation failed (bad arguments: 2, argparse's own)


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def quality_value(text: str) -> int | float:
    """argparse type: a quality, an int when it is a whole number (``3``, ``3.0``), else a float (``2.5``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return int(value) if value.is_integer() else value


def build_parser() -> argparse.ArgumentParser:
    from . import codec_commands, eval_commands, hub_commands, train_commands

    parser = argparse.ArgumentParser(prog="lic-zoo", description="Learned image compression model zoo.")
    parser.add_argument("--version", action="version", version=f"lic-zoo {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (codec_commands, eval_commands, hub_commands, train_commands):
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)

    def show(message: Warning | str, category: type[Warning], *_: object, **__: object) -> None:
        print(f"lic-zoo {args.command}: warning: {message}", file=sys.stderr)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", LicZooWarning)
            warnings.showwarning = show
            return int(args.func(args) or 0)
    except LicZooError as exc:
        print(f"lic-zoo {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:  # e.g. `lic-zoo models | head`
        sys.stderr.close()
        return 0
    except OSError as exc:  # missing files, permissions, full disk
        print(f"lic-zoo {args.command}: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"lic-zoo {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
