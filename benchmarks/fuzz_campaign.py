"""A longer fuzz campaign of the .lic decoder: the test suite's havoc pass for longer, then coverage-guided fuzzing.

1. ``havoc``: ``tests/test_fuzz.py --seconds N`` (stacked random mutations of generated streams and of the seed
   corpus, mostly re-sealed) in a child process under the test's address-space bound.
2. ``atheris`` (``pip install atheris``; not a lic_zoo dependency): libFuzzer-driven, coverage-guided mutation of
   lic_zoo's Python code, on two targets, each in its own child process:
   * ``container``: ``bitstream.read_header`` and ``read_substreams`` (magic, version, checksum, header fields,
     limits, varints, substream lengths);
   * ``decode``: ``MSPCodec.decompress``, down to the substream decoders of every MSP scale.
   Inputs are stream bodies: the target appends their CRC-32, so mutations are not all stopped by the checksum.
   A crash is an exception that is not a ``LicZooError``, a hang an input past ``--timeout`` seconds
   (libFuzzer's ``-timeout``), and memory is bounded by ``-rss_limit_mb``.

Each campaign's figures (cases, typed errors, crashes, hangs, peak memory) are printed as a markdown table and
written as JSON (``--out``). ``--update-corpus`` replaces ``tests/fuzz_corpus`` with a sample of the
coverage-increasing inputs the decode target kept (sealed).

    OMP_NUM_THREADS=1 python benchmarks/fuzz_campaign.py --havoc-seconds 240 --atheris-seconds 150
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
CORPUS = TESTS / "fuzz_corpus"
CORPUS_FILES = 32  # kept by --update-corpus: the smallest inputs of distinct outcomes first
COUNTS_SECONDS = 0.5  # the atheris child writes its counts this often (libFuzzer exits without running atexit)


def seal(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


# ------------------------------------------------------------------ the atheris child
def atheris_child(target: str, corpus: Path, counts_path: Path, libfuzzer_args: list[str]) -> None:
    """Fuzz ``target`` with atheris; typed errors are counted, anything else propagates as a crash."""
    import atheris

    sys.path.insert(0, str(TESTS))
    with atheris.instrument_imports(include=["lic_zoo"]):
        from lic_zoo import LicZooError
        from lic_zoo.coding import bitstream
        from test_fuzz import LIMITS, make_codec_and_samples

    import torch

    torch.set_num_threads(1)
    codec, samples = make_codec_and_samples()
    corpus.mkdir(parents=True, exist_ok=True)
    for i, sample in enumerate(samples):
        (corpus / f"sample{i}").write_bytes(sample.data[:-4])
    counts: Counter = Counter()
    written = [time.monotonic()]

    def container(data: bytes) -> None:
        _, reader = bitstream.read_header(data, LIMITS)
        bitstream.read_substreams(reader, codec.profile.scales + 1)

    run = container if target == "container" else codec.decompress

    def one_input(body: bytes) -> None:
        try:
            run(seal(body))
            counts["decoded"] += 1
        except LicZooError as exc:
            counts[type(exc).__name__] += 1
        if time.monotonic() - written[0] > COUNTS_SECONDS:
            counts_path.write_text(json.dumps(counts))
            written[0] = time.monotonic()

    atheris.Setup([sys.argv[0], *libfuzzer_args, str(corpus)], one_input)
    atheris.Fuzz()


def run_atheris(target: str, seconds: int, timeout: int, rss_limit_mb: int, work: Path) -> dict:
    """One atheris campaign in a child process; its figures from the child's counts and libFuzzer's final stats."""
    corpus, counts_path, artifacts = work / f"{target}-corpus", work / f"{target}-counts.json", work / target
    artifacts.mkdir(parents=True, exist_ok=True)
    libfuzzer = [f"-max_total_time={seconds}", f"-timeout={timeout}", f"-rss_limit_mb={rss_limit_mb}",
                 "-print_final_stats=1", f"-artifact_prefix={artifacts}/", "-max_len=4096"]
    command = [sys.executable, __file__, "--atheris-child", target, "--corpus", str(corpus),
               "--counts", str(counts_path), "--", *libfuzzer]
    start = time.perf_counter()
    child = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
                           timeout=seconds + 300)
    wall = time.perf_counter() - start
    stats = dict(re.findall(r"stat::(\w+):\s+(\d+)", child.stderr))
    counts = json.loads(counts_path.read_text()) if counts_path.exists() else {}
    problems = {kind: sorted(p.name for p in artifacts.glob(f"{kind}-*")) for kind in ("crash", "timeout", "oom")}
    coverage = re.findall(r"cov: (\d+) ft: (\d+)", child.stderr)
    return {
        "target": f"atheris {target}", "seconds": round(wall, 1),
        "cases": int(stats.get("number_of_executed_units", 0)),
        "outcomes": counts,  # as last written, up to COUNTS_SECONDS before the end
        "crashes": len(problems["crash"]), "hangs": len(problems["timeout"]), "out_of_memory": len(problems["oom"]),
        "artifacts": problems, "peak_rss_mb": int(stats.get("peak_rss_mb", 0)),
        "coverage_edges": int(coverage[-1][0]) if coverage else None, "corpus_inputs": len(list(corpus.iterdir())),
        "exit_code": child.returncode, "stderr_tail": child.stderr[-2000:] if any(problems.values()) else "",
    }


# ------------------------------------------------------------------ the campaign
def run_havoc(seconds: float, seed: int, timeout: int, work: Path) -> dict:
    """tests/test_fuzz.py's time-boxed pass for ``seconds``, in its child process (a hang: a case past ``timeout``)."""
    summary_path = work / "havoc.json"
    command = [sys.executable, str(TESTS / "test_fuzz.py"), "--seconds", str(seconds), "--seed", str(seed),
               "--summary", str(summary_path)]
    child = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
                           timeout=seconds + 600)
    if child.returncode != 0:
        sys.exit(f"the havoc pass died (exit {child.returncode}):\n{child.stderr[-3000:]}")
    summary = json.loads(summary_path.read_text())
    outcomes = summary["outcomes"]["havoc"]
    slowest = summary["slowest"][0]
    return {
        "target": "havoc", "seconds": round(summary["seconds"], 1), "cases": summary["cases"],
        "outcomes": outcomes, "crashes": outcomes.get("untyped", 0), "hangs": int(slowest >= timeout),
        "failures": summary["failures"], "slowest_decode_s": round(slowest, 3),
        "peak_rss_mb": round(summary["peak_rss_bytes"] / 2**20),
        "address_space_limit_gib": summary["address_space_limit"] and round(summary["address_space_limit"] / 2**30, 2),
    }


def update_corpus(decode_corpus: Path) -> int:
    """Replace tests/fuzz_corpus with up to CORPUS_FILES sealed inputs of the decode target, smallest first."""
    inputs = sorted((p.read_bytes() for p in decode_corpus.iterdir()), key=lambda b: (len(b), b))
    kept = inputs[:CORPUS_FILES]
    shutil.rmtree(CORPUS, ignore_errors=True)
    CORPUS.mkdir()
    for i, body in enumerate(kept):
        (CORPUS / f"seed{i:02d}.lic").write_bytes(seal(body))
    return len(kept)


def table(results: list[dict]) -> str:
    rows = ["| campaign | seconds | cases | typed errors | decoded | crashes | hangs | peak memory |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        decoded = r["outcomes"].get("decoded", 0)
        typed = sum(r["outcomes"].values()) - decoded - r["outcomes"].get("untyped", 0)
        rows.append(f"| {r['target']} | {r['seconds']} | {r['cases']} | {typed} | {decoded} | {r['crashes']} |"
                    f" {r['hangs']} | {r['peak_rss_mb']} MB |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--havoc-seconds", type=float, default=240)
    parser.add_argument("--atheris-seconds", type=int, default=150, help="per target; 0 skips atheris")
    parser.add_argument("--targets", nargs="+", default=["container", "decode"], choices=["container", "decode"])
    parser.add_argument("--seed", type=int, default=20250612)
    parser.add_argument("--timeout", type=int, default=5, help="seconds one input may take (a hang beyond)")
    parser.add_argument("--rss-limit-mb", type=int, default=4096)
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--update-corpus", action="store_true", help="refresh tests/fuzz_corpus from the decode run")
    parser.add_argument("--atheris-child", choices=["container", "decode"], help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--counts", type=Path, help=argparse.SUPPRESS)
    args, libfuzzer_args = parser.parse_known_args()
    if args.atheris_child:
        atheris_child(args.atheris_child, args.corpus, args.counts, [a for a in libfuzzer_args if a != "--"])
        return
    results = []
    with tempfile.TemporaryDirectory(prefix="lic_zoo_fuzz_") as tmp:
        work = Path(tmp)
        if args.havoc_seconds > 0:
            results.append(run_havoc(args.havoc_seconds, args.seed, args.timeout, work))
            print(json.dumps(results[-1], indent=1), flush=True)
        if args.atheris_seconds > 0:
            try:
                import atheris  # noqa: F401
            except ImportError:
                sys.exit("atheris is not installed: pip install atheris (or --atheris-seconds 0)")
            for target in args.targets:
                results.append(run_atheris(target, args.atheris_seconds, args.timeout, args.rss_limit_mb, work))
                print(json.dumps(results[-1], indent=1), flush=True)
            if args.update_corpus and "decode" in args.targets:
                print(f"{update_corpus(work / 'decode-corpus')} files written to {CORPUS}")
    print(table(results))
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
