"""The `lic-zoo` command lines of README.md and docs/*.md that are meant to be run, run on tiny data.

A fenced block right after an HTML comment starting ``<!-- tested-commands`` is such a block: every line of it,
or ``&&``-separated part of a line, that starts with ``lic-zoo`` runs as written in a fresh folder holding
``photo.png``, ``sample.png``, ``images/`` and ``../shared/data/eval-768x512/`` (tiny photo-like images), and
must exit 0. The words are split and globbed as a shell would, and run in this process (``lic_zoo.cli.main``),
which saves a start-up per command. Other lines (``pip``, ``python``) are left to the reader.
"""
from __future__ import annotations

import glob
import re
import shlex
from pathlib import Path

import pytest

from lic_zoo.cli import main

from codec_helpers import save_image, synthetic_image

REPO = Path(__file__).resolve().parents[1]
MARKER = "<!-- tested-commands"
BLOCK = re.compile(re.escape(MARKER) + r"[^\n]*-->\s*\n```[a-z]*\n(.*?)\n```", re.S)


def documented_blocks() -> list[tuple[str, list[str]]]:
    """(file: block number, its lic-zoo commands) for every marked block."""
    blocks = []
    for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for number, body in enumerate(BLOCK.findall(path.read_text(encoding="utf-8")), 1):
            parts = [part.strip() for line in body.splitlines() for part in line.split("&&")]
            blocks.append((f"{path.relative_to(REPO)}:{number}", [p for p in parts if p.startswith("lic-zoo ")]))
    return blocks


BLOCKS = documented_blocks()


def test_the_marked_blocks_are_found():
    files = {name.split(":")[0] for name, _ in BLOCKS}
    assert {"README.md", "docs/evaluation.md", "docs/lof.md"} <= files
    assert all(commands for _, commands in BLOCKS)


@pytest.mark.parametrize("commands", [commands for _, commands in BLOCKS], ids=[name for name, _ in BLOCKS])
def test_documented_commands_run(tmp_path, monkeypatch, commands):
    work, data = tmp_path / "main", tmp_path / "shared" / "data" / "eval-768x512"
    for folder in (work / "images", data):
        folder.mkdir(parents=True)
    for seed, path in enumerate([work / "photo.png", work / "sample.png", work / "images" / "a.png",
                                 work / "images" / "b.png", data / "dev01.png"]):
        save_image(synthetic_image(48, 64, seed=seed), path)
    monkeypatch.chdir(work)
    for command in commands:
        words = shlex.split(command, comments=True)[1:]
        argv = [match for word in words for match in (sorted(glob.glob(word)) if "*" in word else [word])]
        assert main(argv) == 0, command
