"""Model cards (the README.md of a Hub checkpoint): front matter, measured RD table, recipe, use, limits, loading.

Every number a card shows is passed in (measured results, the weights file's digest and size); nothing is
estimated here.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..model.rate import lambda_for
from .registry import CHECKPOINTS, Checkpoint

PLOT_NAME = "rd-curve.png"
PAPER = (
    "Zhang, Cricri, Tavakoli, Aksu, Hannuksela, *Leveraging progressive model and overfitting for efficient "
    "learned image compression*, [arXiv:2210.04112](https://arxiv.org/abs/2210.04112)"
)
# CompressAI results keys -> RD table column labels; other keys are shown as they are.
RESULT_COLUMNS = {
    "bpp": "bpp",
    "psnr-rgb": "PSNR-RGB (dB)",
    "ms-ssim-rgb": "MS-SSIM-RGB",
    "encoding_time": "encode (s)",
    "decoding_time": "decode (s)",
}
# RD table column -> metric type of the card's ``model-index`` (what the Hub reads as evaluation results).
EVAL_METRICS = {"bpp": "bpp", "PSNR-RGB (dB)": "psnr", "MS-SSIM-RGB": "ms-ssim"}
LOSSES = {"mse": "R + λ·255²·MSE", "ms-ssim": "R + λ·(1 - MS-SSIM)"}


@dataclass(frozen=True)
class WeightsInfo:
    """What the card says about ``model.safetensors``."""

    sha256: str
    num_values: int  # elements over all stored tensors (parameters and buffers)
    dtypes: tuple[str, ...]  # storage dtypes, e.g. ("F16", "I32")
    size_bytes: int


def checkpoint_for(repo_id: str) -> Checkpoint | None:
    """The registered checkpoint a repo holds, recognised by its name (``ORG/msp-lite-mse-q3``), or None."""
    name = repo_id.rsplit("/", 1)[-1]
    return next((checkpoint for checkpoint in CHECKPOINTS if checkpoint.id == name), None)


def rd_rows_from_results(results: Mapping[str, Any]) -> list[dict[str, object]]:
    """RD table rows, one per point, from a CompressAI-style results JSON (``{"results": {"bpp": [...], ...}}``).

    Rows start with the codec's ``name``, the image folder's name (``meta.image_dir``) and the setting (e.g.
    ``quality``) where the file has them.
    """
    columns = dict(results["results"])
    if "settings" in results and "setting_name" in results:
        columns = {results["setting_name"]: results["settings"], **columns}
    labels = [RESULT_COLUMNS.get(key, key) for key in columns]
    rows = [dict(zip(labels, point, strict=True)) for point in zip(*columns.values(), strict=True)]
    image_dir = results.get("meta", {}).get("image_dir")
    first = {"codec": results.get("name"), "dataset": image_dir and os.path.basename(os.path.normpath(image_dir))}
    first = {key: value for key, value in first.items() if value}
    return [{**first, **row} for row in rows]


def render_model_card(
    config: Mapping[str, Any],
    *,
    repo_id: str,
    weights: WeightsInfo | None = None,
    rd_table_rows: Sequence[Mapping[str, object]] = (),
    rd_note: str | None = None,
    plot_path: str | None = None,
    recipe: str | None = None,
    training_data: str | None = None,
    license_id: str = "apache-2.0",
) -> str:
    """The model card (Markdown with YAML front matter) of the checkpoint with ``config`` published as ``repo_id``.

    The measured RD points also go into the front matter's ``model-index``, where the Hub reads them.
    """
    from huggingface_hub import ModelCardData

    entry = checkpoint_for(repo_id)
    tags = ["image-compression", "learned-image-compression", "lic-zoo"]
    if entry is not None:
        tags += [entry.model, entry.metric]
    front = ModelCardData(library_name="lic-zoo", license=license_id, pipeline_tag="image-to-image", tags=tags,
                          model_name=repo_id, eval_results=_eval_results(rd_table_rows) or None)
    sections = [
        f"---\n{front.to_yaml()}\n---",
        f"# {repo_id}",
        "A learned image codec from lic_zoo: an autoencoder whose latent is entropy-coded with a multi-scale "
        "progressive (MSP) probability model, so decoding takes a fixed number of sequential network calls "
        f"whatever the image size. Method: {PAPER} (lic_zoo's reconstruction of it).",
        _summary(entry, weights),
        "## Rate-distortion\n\n" + _rd_section(rd_table_rows, rd_note, plot_path),
        "## Training\n\n" + _training_section(recipe, training_data),
        "## Configuration (`config.json`)\n\n```json\n" + json.dumps(config, indent=2, sort_keys=True) + "\n```",
        _INTENDED_USE,
        _LIMITATIONS,
        "## How to load\n\n" + _how_to_load(repo_id, entry),
    ]
    return "\n\n".join(section for section in sections if section) + "\n"


def _eval_results(rows: Sequence[Mapping[str, object]]) -> list[Any]:
    """One ``huggingface_hub.EvalResult`` per measured number of each RD point, named by the point's setting."""
    from huggingface_hub import EvalResult

    results = []
    for row in rows:
        point = ", ".join(str(value) if key in ("codec", "dataset") else f"{key} {value}" for key, value in row.items()
                          if key not in RESULT_COLUMNS.values())
        for label, metric in EVAL_METRICS.items():
            if isinstance(row.get(label), (int, float)):
                results.append(EvalResult(
                    task_type="image-to-image", task_name="image compression", dataset_type="images",
                    dataset_name=str(row.get("dataset", "unspecified")), metric_type=metric,
                    metric_name=f"{label} ({point})" if point else label, metric_value=row[label]))
    return results


def _summary(entry: Checkpoint | None, weights: WeightsInfo | None) -> str:
    rows = []
    if entry is not None:
        low, high = entry.qualities
        if entry.variable_rate:
            served = f"qualities {low:g} to {high:g}, continuous (one network, gain units)"
            lmbda = f"λ = {lambda_for(entry.metric, low):g} to {lambda_for(entry.metric, high):g}"
        else:
            served, lmbda = f"quality {low:g}", f"λ = {lambda_for(entry.metric, low):g}"
        rows += [
            ("zoo model", f"`{entry.model}`, metric `{entry.metric}`, {served}"),
            ("training loss", f"{LOSSES[entry.metric]}, {lmbda}"),
            ("sequential context-network calls per decode", f"{entry.profile.context_calls} (then one synthesis pass)"),
        ]
    if weights is not None:
        rows += [
            ("weights", f"`model.safetensors`, {weights.num_values:,} values ({', '.join(weights.dtypes)}), "
             f"{weights.size_bytes:,} bytes"),
            ("weights sha256", f"`{weights.sha256}`"),
        ]
    return _table(["property", "value"], [list(row) for row in rows]) if rows else ""


def _rd_section(rows: Sequence[Mapping[str, object]], note: str | None, plot_path: str | None) -> str:
    if rows:
        columns = list(dict.fromkeys(key for row in rows for key in row))
        parts = [_table(columns, [[_cell(row.get(column)) for column in columns] for row in rows])]
    else:
        parts = ["No measured results were published with this checkpoint."]
    if note:
        parts.append(note)
    if plot_path:
        parts.append(f"![rate-distortion curve]({plot_path})")
    return "\n\n".join(parts)


def _training_section(recipe: str | None, training_data: str | None) -> str:
    data = training_data or "The training data was not recorded with this checkpoint."
    recipe_text = f"Recipe:\n\n```yaml\n{recipe.rstrip()}\n```" if recipe else "The recipe was not recorded."
    return f"{data}\n\n{recipe_text}"


def _how_to_load(repo_id: str, entry: Checkpoint | None) -> str:
    by_repo = _LOAD_BY_REPO.format(repo_id=repo_id)
    if entry is None or not entry.default:
        return by_repo
    args = f'quality={max(entry.qualities[0], min(3, entry.qualities[1])):g}, metric="{entry.metric}"'
    return _LOAD_ZOO_ENTRY.format(model=entry.model, entry_point=entry.model.replace("-", "_"), args=args) + by_repo


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def _cell(value: object) -> str:
    if value is None:
        return ""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


_INTENDED_USE = """## Intended use

Compressing and decompressing RGB photographs with lic_zoo (Python API or the `lic-zoo` command line), comparing
learned and classic codecs, and fine-tuning. A compressed file records which model and which weights (by digest)
made it, and lic_zoo decodes it only with those weights."""

_LIMITATIONS = """## Limitations

- Lossy: do not use where every pixel must be reproduced exactly (archival masters, medical or forensic imagery).
- Rate-distortion performance holds for images like the training photographs; screen content, text, line art and
  other unusual imagery were not evaluated unless the table above says so.
- The results above were measured on the image set named with them, not on Kodak or CLIC unless stated.
- Floating-point weights are stored at reduced precision (float16 unless the summary says otherwise) and cast to
  float32 when loaded. Streams are tied to these exact weights: a retrained checkpoint cannot decode them."""

_LOAD_ZOO_ENTRY = """```python
import lic_zoo

codec = lic_zoo.load("{model}", {args})  # pinned revision, digest checked
```

With `torch.hub`, from a checkout of the lic_zoo sources:

```python
import torch

codec = torch.hub.load("path/to/lic_zoo", "{entry_point}", source="local", {args})
```

Any checkpoint, by repo:

"""

_LOAD_BY_REPO = """```python
import lic_zoo

codec = lic_zoo.load_local("hf-hub:{repo_id}")  # add @<commit sha> to pin the files
```

From the command line, `lic-zoo download {repo_id} --revision <commit sha>` prints the local folder."""
