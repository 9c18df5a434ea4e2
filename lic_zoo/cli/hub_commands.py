"""``lic-zoo publish | download``: move checkpoints to and from the Hugging Face Hub."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import PublishError
from ..zoo.model_card import PLOT_NAME, rd_rows_from_results


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "publish",
        help="write the model card of an exported checkpoint folder and upload it to the Hub",
        description="Upload DIR (model.safetensors + config.json) to the Hub repo ORG/NAME, created if missing, "
        "after (re)writing its model card. Prints the commit sha: pin it as the zoo entry's revision.",
    )
    p.add_argument("directory", type=Path, metavar="DIR")
    p.add_argument("--repo", required=True, metavar="ORG/NAME")
    p.add_argument("--endpoint", metavar="URL", help="Hub endpoint (default: HF_ENDPOINT or https://huggingface.co)")
    p.add_argument("--token", help="token with write access (default: HF_TOKEN or the stored `hf auth login`)")
    p.add_argument("--revision", metavar="BRANCH", help="existing branch to commit to (default: main)")
    p.add_argument("--private", action="store_true", help="create the repo private")
    p.add_argument("--results", type=Path, metavar="JSON", action="append",
                   help="CompressAI-style results measured with these weights, for the card's RD table (repeatable)")
    p.add_argument("--rd-note", metavar="TEXT", help="sentence under the card's RD table")
    p.add_argument("--plot", type=Path, metavar="IMAGE", help=f"RD plot for the card (uploaded as {PLOT_NAME})")
    p.add_argument("--recipe", type=Path, metavar="YAML", help="training recipe to show in the card")
    p.add_argument("--training-data", metavar="TEXT", help="what the codec was trained on, for the card")
    p.add_argument("--message", default="Upload lic-zoo checkpoint", help="commit message")
    p.add_argument("--card-only", action="store_true", help="only (re)write the model card in DIR; upload nothing")
    p.set_defaults(func=_publish)

    p = subparsers.add_parser(
        "download",
        help="fetch a checkpoint from the Hub into the Hugging Face cache and print its folder",
        description="Honours HF_HUB_CACHE, HF_ENDPOINT and HF_HUB_OFFLINE (then only the cache is used).",
    )
    p.add_argument("repo", metavar="ORG/NAME")
    p.add_argument("--revision", help="branch, tag or commit sha (default: main)")
    p.add_argument("--sha256", help="expected sha256 of model.safetensors")
    p.add_argument("--endpoint", metavar="URL", help="Hub endpoint (default: HF_ENDPOINT or https://huggingface.co)")
    p.add_argument("--cache-dir", type=Path, help="cache folder (default: HF_HUB_CACHE)")
    p.set_defaults(func=_download)


def _publish(args: argparse.Namespace) -> int:
    from ..zoo import hub

    rows = [row for path in args.results or () for row in _results(path)]
    card = {
        "rd_table_rows": rows,
        "rd_note": args.rd_note,
        "plot": args.plot,
        "recipe": args.recipe.read_text(encoding="utf-8") if args.recipe is not None else None,
        "training_data": args.training_data,
    }
    if args.card_only:
        print(hub.write_model_card(args.directory, args.repo, **card))
        return 0
    commit = hub.publish(
        args.directory,
        args.repo,
        **card,
        token=args.token,
        revision=args.revision,
        private=args.private,
        endpoint=args.endpoint,
        commit_message=args.message,
    )
    print(commit)
    return 0


def _results(path: Path) -> list[dict[str, object]]:
    try:
        return rd_rows_from_results(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise PublishError(f"{path} is not a CompressAI-style results file: {exc!r}") from None


def _download(args: argparse.Namespace) -> int:
    from ..zoo import hub

    directory = hub.download(
        args.repo, revision=args.revision, sha256=args.sha256, cache_dir=args.cache_dir, endpoint=args.endpoint
    )
    print(directory)
    return 0
