"""Fuzzing the decoder: mutated .lic files decode, or fail with lic_zoo's typed errors, in bounded time and memory.

Three seeded, bounded campaigns mutate valid streams of a ``lite`` codec (random weights) and decode them:

* raw: mutations left as they are. The CRC32 covers the whole file, so each must fail with a
  CorruptStreamError that says why: bad magic, truncated, version, or (nearly always) checksum.
* re-sealed: the body is mutated, then its CRC32 recomputed, so the mutations reach the header parser, the
  limits, the substream length checks, the model check and the entropy decoder. Each outcome must be a decoded
  image of the size the header claims, or a :class:`lic_zoo.LicZooError`; structured mutations also name the
  error they must raise. It runs in a child process (this file as a script) whose address space is capped
  at its size after setup plus ADDRESS_SPACE_MARGIN, so an oversized allocation fails the campaign.

* time-boxed (havoc): for FUZZ_SECONDS (60; environment variable LIC_ZOO_FUZZ_SECONDS), stacked random
  mutations of the generated streams and of the seed corpus ``tests/fuzz_corpus/`` (inputs kept by
  ``benchmarks/fuzz_campaign.py``, the longer and coverage-guided campaign), mostly re-sealed, in the same
  bounded child process: typed errors only, every case within DECODE_SECONDS.

The decoding limits are tight (four times the largest sample image), so inflated dimensions must be refused
by LimitExceededError before anything is decoded. Counts and outcomes are in docs/robustness.md; rerun with
``OMP_NUM_THREADS=1 python -m pytest -q -s tests/test_fuzz.py`` (``-s`` prints the tables).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import struct
import subprocess
import sys
import time
import tracemalloc
import traceback
import zlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from lic_zoo import CorruptStreamError, LicZooError, LimitExceededError, Limits, ModelMismatchError, MSPCodec
import lic_zoo
from lic_zoo.coding import bitstream
from lic_zoo.coding.bitstream import Header

from codec_helpers import synthetic_image

SEED = 20250611
IMAGES = ((64, 64, "RGB"), (48, 80, "RGB"), (40, 56, "L"), (17, 33, "RGB"))  # height, width, layout
LIMITS = Limits(max_pixels=4 * 64 * 64, max_side=4 * 64)
RAW_CASES_PER_KIND = 100
RESEALED_CASES_PER_KIND = 160
DECODE_SECONDS = 5.0  # bound on every single decode (they take about 20 ms)
CAMPAIGN_SECONDS = 600  # the child process is killed after this: a hang fails the tests, it cannot stall them
ADDRESS_SPACE_MARGIN = 1 << 30  # bytes the re-sealed campaign may map beyond its size after setup
MAX_VARINT = 2**35 - 1  # the largest value a header varint may hold
METRIC_CODES = 2  # metric bytes the format defines (mse, ms-ssim)
READABLE_VERSIONS = getattr(bitstream, "READABLE_VERSIONS", (bitstream.VERSION,))  # format 4 also reads 3
CORPUS = Path(__file__).resolve().parent / "fuzz_corpus"  # seed streams kept from benchmarks/fuzz_campaign.py
FUZZ_SECONDS = float(os.environ.get("LIC_ZOO_FUZZ_SECONDS", "60"))  # the time-boxed pass of the test suite
HAVOC_STREAM = 1000  # generator stream of the havoc cases (the re-sealed kinds use 0..8)


# ------------------------------------------------------------------ building streams
def varint(value: int) -> bytes:
    """LEB128, as in the .lic format."""
    out = bytearray()
    while True:
        out.append((value & 0x7F) | (0x80 if value >> 7 else 0))
        value >>= 7
        if not value:
            return bytes(out)


def seal(body: bytes) -> bytes:
    """Append the CRC32 that makes ``body`` pass the checksum."""
    return body + struct.pack("<I", zlib.crc32(body))


@dataclasses.dataclass(frozen=True)
class Fields:
    """A .lic header as raw field values, so that mutations can write values ``bitstream.pack`` refuses."""

    model: bytes
    metric: int
    quality: bytes  # as stored: one byte (format 3) or a varint of 1/1000 units (format 4)
    digest: bytes
    height: int
    width: int
    layout: int
    version: int = bitstream.VERSION

    @classmethod
    def of(cls, header: Header, data: bytes) -> Fields:
        """The fields of ``data``, whose parsed header is ``header`` (metric and quality as stored)."""
        metric_at = len(bitstream.MAGIC) + 2 + len(header.model)
        digest_at = data.index(header.digest, metric_at + 2)
        return cls(header.model.encode("ascii"), data[metric_at], data[metric_at + 1 : digest_at], header.digest,
                   header.height, header.width, bitstream.LAYOUTS.index(header.layout))

    def encode(self, height: bytes | None = None, width: bytes | None = None) -> bytes:
        """The header bytes; ``height`` and ``width`` replace the canonical varints of the dimensions."""
        return b"".join([bitstream.MAGIC, bytes([self.version, len(self.model)]), self.model,
                         bytes([self.metric]), self.quality, self.digest, height or varint(self.height),
                         width or varint(self.width), bytes([self.layout])])


def assemble(fields: Fields, lengths: list[int], payload: bytes) -> bytes:
    """A sealed stream with the given header fields, substream lengths and payload (consistent or not)."""
    return seal(fields.encode() + b"".join(map(varint, lengths)) + payload)


@dataclasses.dataclass(frozen=True)
class Sample:
    """A valid stream and its parts."""

    data: bytes
    fields: Fields
    substreams: tuple[bytes, ...]

    @property
    def lengths(self) -> list[int]:
        return [len(s) for s in self.substreams]

    @property
    def payload(self) -> bytes:
        return b"".join(self.substreams)


def make_codec_and_samples() -> tuple[MSPCodec, list[Sample]]:
    """The codec under test, with the campaign's tight limits, and one valid stream per image of IMAGES."""
    torch.manual_seed(0)
    codec = MSPCodec("lite").eval()
    samples = []
    for seed, (height, width, layout) in enumerate(IMAGES):
        image = synthetic_image(height, width, seed=seed)
        data = codec.compress(image[:1] if layout == "L" else image, lof_steps=0)
        header, reader = bitstream.read_header(data)
        substreams = tuple(bitstream.read_substreams(reader, codec.profile.scales + 1))
        sample = Sample(data, Fields.of(header, data), substreams)
        assert assemble(sample.fields, sample.lengths, sample.payload) == data, "the fuzzer misreads the format"
        samples.append(sample)
    codec.limits = LIMITS
    return codec, samples


# ------------------------------------------------------------------ mutations
Expected = tuple[type[LicZooError], str] | None  # the error a case must raise and a word of its message; None: any
Mutation = Callable[[np.random.Generator, Sample, list[Sample]], tuple[bytes, Expected]]


def flip_bits(rng: np.random.Generator, data: bytes) -> bytes:
    """Flip 1 to 8 distinct bits anywhere."""
    out = bytearray(data)
    for bit in rng.choice(8 * len(out), size=rng.integers(1, 9), replace=False):
        out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def truncate(rng: np.random.Generator, data: bytes) -> bytes:
    return data[: rng.integers(0, len(data))]


def insert_bytes(rng: np.random.Generator, data: bytes) -> bytes:
    """Insert 1 to 16 random bytes at a random position."""
    at = rng.integers(0, len(data) + 1)
    return data[:at] + rng.bytes(rng.integers(1, 17)) + data[at:]


def delete_bytes(rng: np.random.Generator, data: bytes) -> bytes:
    """Delete 1 to 16 consecutive bytes."""
    at = rng.integers(0, len(data))
    return data[:at] + data[at + rng.integers(1, 17) :]


BYTE_MUTATIONS: dict[str, Callable[[np.random.Generator, bytes], bytes]] = {
    "bit flips": flip_bits, "truncation": truncate, "byte insertion": insert_bytes, "byte deletion": delete_bytes,
}


def raw_rejection(data: bytes) -> str:
    """The word in the message read_header must give for a damaged, unsealed stream."""
    if data[: len(bitstream.MAGIC)] != bitstream.MAGIC:
        return "magic"
    if len(data) < len(bitstream.MAGIC) + 1 + 4:
        return "truncated"
    if data[len(bitstream.MAGIC)] not in READABLE_VERSIONS:
        return "version"
    return "checksum"


def raw(mutate: Callable[[np.random.Generator, bytes], bytes]) -> Mutation:
    """Mutate the whole file and leave the CRC32 as it is."""

    def mutation(rng: np.random.Generator, sample: Sample, _: list[Sample]) -> tuple[bytes, Expected]:
        data = mutate(rng, sample.data)
        return data, (CorruptStreamError, raw_rejection(data))

    return mutation


def resealed(mutate: Callable[[np.random.Generator, bytes], bytes], expected: Expected = None) -> Mutation:
    """Mutate the body (everything but the CRC32), then seal it again."""

    def mutation(rng: np.random.Generator, sample: Sample, _: list[Sample]) -> tuple[bytes, Expected]:
        return seal(mutate(rng, sample.data[:-4])), expected

    return mutation


def change_dimensions(rng: np.random.Generator, sample: Sample, _: list[Sample]) -> tuple[bytes, Expected]:
    """Height and width inside the limits (inconsistent with the payload), beyond them, zero or overlong."""
    side, pixels = LIMITS.max_side, LIMITS.max_pixels
    mode = rng.integers(5)
    if mode == 0:  # inside the limits
        height = int(rng.integers(1, side + 1))
        width, expected = int(rng.integers(1, min(side, pixels // height) + 1)), None
    elif mode == 1:  # a side beyond the limit
        height, width = int(rng.integers(side + 1, MAX_VARINT + 1)), int(rng.integers(1, side + 1))
        expected = (LimitExceededError, "side")
    elif mode == 2:  # both sides within the limit, too many pixels
        height = int(rng.integers(pixels // side + 1, side + 1))
        width, expected = int(rng.integers(pixels // height + 1, side + 1)), (LimitExceededError, "pixels")
    elif mode == 3:
        height, width, expected = 0, int(rng.integers(0, side + 1)), (LimitExceededError, "empty")
    else:  # more than a header varint may hold
        height, width = int(rng.integers(MAX_VARINT + 1, 2**62)), sample.fields.width
        expected = (CorruptStreamError, "malformed")
    if rng.integers(2):
        height, width = width, height
    fields = dataclasses.replace(sample.fields, height=height, width=width)
    return assemble(fields, sample.lengths, sample.payload), expected


def change_lengths(rng: np.random.Generator, sample: Sample, _: list[Sample]) -> tuple[bytes, Expected]:
    """Move bytes between two substreams (the total still fits the payload), or inflate/deflate one length."""
    lengths = sample.lengths
    i, j = rng.choice(len(lengths), size=2, replace=False)
    if rng.integers(2):
        moved = int(rng.integers(1, lengths[i] + 1)) if lengths[i] else 0
        lengths[i] -= moved
        lengths[j] += moved
        expected = None
    else:
        lengths[i] = int(rng.choice([rng.integers(0, lengths[i]) if lengths[i] else lengths[i] + 1,
                                     rng.integers(lengths[i] + 1, lengths[i] + 64),
                                     rng.integers(lengths[i] + 1, MAX_VARINT + 1)]))
        expected = (CorruptStreamError, "lengths")
    return assemble(sample.fields, lengths, sample.payload), expected


def change_header_field(rng: np.random.Generator, sample: Sample, _: list[Sample]) -> tuple[bytes, Expected]:
    """Another model name, metric, quality, weights digest, layout or version, valid or not."""
    field = ["model", "metric", "quality", "digest", "layout", "version"][rng.integers(6)]
    valid = bool(rng.integers(2))
    old = getattr(sample.fields, field)
    if field == "model":
        names = [b"msp-base", b"msp-extra", b"", rng.integers(32, 127, rng.integers(1, 256), dtype=np.uint8).tobytes()]
        new = names[rng.integers(len(names))] if valid else rng.bytes(7) + bytes([rng.integers(128, 256)])
        expected = (ModelMismatchError, "") if valid else (CorruptStreamError, "ASCII")
    elif field == "metric":
        new = old ^ 1 if valid else int(rng.integers(METRIC_CODES, 256))
        expected = (ModelMismatchError, "") if valid else (CorruptStreamError, "metric")
    elif field == "quality":
        # Another value in the same number of bytes: the low 7 bits of the first byte change.
        new, expected = bytes([old[0] ^ int(rng.integers(1, 128))]) + old[1:], (ModelMismatchError, "quality")
    elif field == "digest":
        new, expected = bytes(b ^ 0xFF for b in old) if valid else rng.bytes(8), (ModelMismatchError, "weights")
    elif field == "layout":
        new = old ^ 1 if valid else int(rng.integers(len(bitstream.LAYOUTS), 256))
        expected = None if valid else (CorruptStreamError, "layout")
    elif valid and len(READABLE_VERSIONS) > 1:  # another version it reads, over a body of this format
        new, expected = int(rng.choice([v for v in READABLE_VERSIONS if v != old])), None
    else:
        unreadable = [v for v in range(256) if v not in READABLE_VERSIONS]
        new, expected = int(rng.choice(unreadable)), (CorruptStreamError, "version")
    fields = dataclasses.replace(sample.fields, **{field: new})
    return assemble(fields, sample.lengths, sample.payload), expected


def swap_headers(rng: np.random.Generator, sample: Sample, samples: list[Sample]) -> tuple[bytes, Expected]:
    """The header of a stream of another image size (and maybe layout) over this stream's substreams."""
    others = [s for s in samples if s.fields != sample.fields]
    return assemble(others[rng.integers(len(others))].fields, sample.lengths, sample.payload), None


def garbage_substreams(rng: np.random.Generator, sample: Sample, _: list[Sample]) -> tuple[bytes, Expected]:
    """Replace some substreams with random bytes: mostly whole 32-bit words, so that ANS decoding starts, and
    sometimes ending in a zero word, which the ANS coder refuses."""
    substreams = list(sample.substreams)
    for i in rng.choice(len(substreams), size=rng.integers(1, len(substreams) + 1), replace=False):
        n = int(rng.integers(0, 2 * len(substreams[i]) + 9))
        garbage = rng.bytes(n - n % 4 if rng.random() < 0.8 else n)
        substreams[i] = garbage[:-4] + bytes(4) if len(garbage) >= 4 and rng.random() < 0.2 else garbage
    return assemble(sample.fields, [len(s) for s in substreams], b"".join(substreams)), None


RAW_MUTATIONS: dict[str, Mutation] = {kind: raw(mutate) for kind, mutate in BYTE_MUTATIONS.items()}
RESEALED_MUTATIONS: dict[str, Mutation] = {
    "bit flips": resealed(flip_bits),
    "truncation": resealed(truncate, (CorruptStreamError, "")),  # every byte of a stream is needed
    "byte insertion": resealed(insert_bytes),
    "byte deletion": resealed(delete_bytes),
    "dimensions": change_dimensions,
    "substream lengths": change_lengths,
    "header fields": change_header_field,
    "swapped headers": swap_headers,
    "garbage substreams": garbage_substreams,
}


# ------------------------------------------------------------------ running cases
@dataclasses.dataclass
class Report:
    """Outcome counts per mutation kind, the errors cases had to raise, the problems found, the slowest decode."""

    outcomes: dict[str, Counter] = dataclasses.field(default_factory=dict)
    named: Counter = dataclasses.field(default_factory=Counter)  # "Error 'word of its message'" -> cases
    failures: list[str] = dataclasses.field(default_factory=list)
    slowest: tuple[float, str] = (0.0, "")

    @property
    def cases(self) -> int:
        return sum(sum(c.values()) for c in self.outcomes.values())

    def table(self) -> str:
        """The outcome counts as a markdown table, one row per mutation kind."""
        columns = sorted({o for c in self.outcomes.values() for o in c}, key=lambda o: (o != "decoded", o))
        rows = [["mutation", "cases", *columns], ["---"] * (len(columns) + 2)]
        for kind, counts in [*self.outcomes.items(), ("all", sum(self.outcomes.values(), Counter()))]:
            rows.append([kind, str(sum(counts.values())), *(str(counts[o]) for o in columns)])
        named = ", ".join(f"{label} {n}" for label, n in sorted(self.named.items()))
        return "\n".join("| " + " | ".join(row) + " |" for row in rows) + f"\n\nnamed errors raised: {named}"


def decode_case(codec: MSPCodec, data: bytes, expected: Expected, *, sealed: bool) -> tuple[str, str | None]:
    """Decode one stream; returns its outcome ("decoded" or "Error (module raising it)") and a problem, if any."""
    try:
        image = codec.decompress(data)
    except LicZooError as exc:
        outcome = f"{type(exc).__name__} ({Path(traceback.extract_tb(exc.__traceback__)[-1].filename).stem})"
        if expected is not None and not (isinstance(exc, expected[0]) and expected[1] in str(exc)):
            return outcome, f"expected {expected[0].__name__} ({expected[1]!r}), got {type(exc).__name__}: {exc}"
        if sealed and "checksum" in str(exc):
            return outcome, f"a re-sealed stream failed its checksum: {exc}"
        return outcome, None
    except Exception as exc:  # anything untyped is what the fuzzer looks for
        return "untyped", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
    if expected is not None:
        return "decoded", f"expected {expected[0].__name__} ({expected[1]!r}), but the stream decoded"
    header, _ = bitstream.read_header(data, codec.limits)
    if image.dtype != torch.float32 or image.shape != (3, header.height, header.width):
        return "decoded", f"decoded a {image.dtype} {tuple(image.shape)}, header says {header.width}x{header.height}"
    if not bool(((image >= 0) & (image <= 1)).all()):  # also false for NaN
        return "decoded", "decoded pixels outside [0, 1] or not finite"
    return "decoded", None


def record_case(report: Report, codec: MSPCodec, kind: str, label: str, data: bytes, expected: Expected, *,
                sealed: bool) -> None:
    """Decode one case and add its outcome, time and problem (if any) to ``report``."""
    start = time.perf_counter()
    outcome, problem = decode_case(codec, data, expected, sealed=sealed)
    elapsed = time.perf_counter() - start
    report.outcomes.setdefault(kind, Counter())[outcome] += 1
    if expected is not None:
        report.named[f"{expected[0].__name__} {expected[1]!r}" if expected[1] else expected[0].__name__] += 1
    report.slowest = max(report.slowest, (elapsed, label))
    if problem is not None:
        report.failures.append(f"{label}: {problem}")


def run_campaign(codec: MSPCodec, samples: list[Sample], mutations: dict[str, Mutation], cases_per_kind: int,
                 seed: int, *, sealed: bool, progress: bool = False) -> Report:
    """``cases_per_kind`` cases of every mutation; case ``i`` of a kind draws from the generator (seed, kind, i)."""
    report = Report()
    for k, (kind, mutate) in enumerate(mutations.items()):
        report.outcomes[kind] = Counter()
        for i in range(cases_per_kind):
            label = f"seed {seed}, {kind!r} case {i}"
            if progress:
                print(label, file=sys.stderr, flush=True)  # the last line names the case if the process dies
            rng = np.random.default_rng([seed, k, i])
            data, expected = mutate(rng, samples[i % len(samples)], samples)
            record_case(report, codec, kind, label, data, expected, sealed=sealed)
    return report


# ------------------------------------------------------------------ the time-boxed pass
def read_corpus(folder: Path = CORPUS) -> list[bytes]:
    """The committed seed streams (``tests/fuzz_corpus/*.lic``)."""
    return [path.read_bytes() for path in sorted(folder.glob("*.lic"))]


def havoc(rng: np.random.Generator, samples: list[Sample], corpus: list[bytes]) -> bytes:
    """A corpus file or a structured mutation of a generated stream, then 0 to 3 byte mutations; re-sealed 3 times
    in 4 (so most cases get past the checksum)."""
    if corpus and rng.random() < 0.3:
        data = corpus[rng.integers(len(corpus))]
    else:
        structured = list(RESEALED_MUTATIONS.values())
        data, _ = structured[rng.integers(len(structured))](rng, samples[rng.integers(len(samples))], samples)
    mutations = list(BYTE_MUTATIONS.values())
    for _ in range(rng.integers(0, 4)):
        if data:
            data = mutations[rng.integers(len(mutations))](rng, data)
    return seal(data[:-4]) if len(data) >= 4 and rng.random() < 0.75 else data


def run_time_boxed(codec: MSPCodec, samples: list[Sample], corpus: list[bytes], seconds: float, seed: int) -> Report:
    """Havoc cases until ``seconds`` have passed; case ``i`` draws from the generator (seed, HAVOC_STREAM, i)."""
    report, deadline, i = Report(), time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        label = f"seed {seed}, havoc case {i}"
        data = havoc(np.random.default_rng([seed, HAVOC_STREAM, i]), samples, corpus)
        record_case(report, codec, "havoc", label, data, None, sealed=False)
        i += 1
    return report


# ------------------------------------------------------------------ the address-space bound
def bound_address_space(margin: int) -> int | None:
    """Cap this process's address space at its current size plus ``margin``; None where that is not enforced."""
    try:
        import resource
    except ImportError:  # not on Windows
        return None
    statm = Path("/proc/self/statm")
    if not sys.platform.startswith("linux") or not statm.exists():  # macOS accepts RLIMIT_AS but ignores it
        return None
    limit = int(statm.read_text().split()[0]) * resource.getpagesize() + margin
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY and hard < limit:
        return None
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    return limit


def allocation_refused(nbytes: int) -> bool:
    """Whether allocating (and touching) ``nbytes`` fails: shows the bound is live."""
    try:
        torch.ones(nbytes, dtype=torch.uint8)
    except (RuntimeError, MemoryError):
        return True
    return False


def main(argv: list[str] | None = None) -> dict:
    """The re-sealed campaign, or with ``--seconds`` the time-boxed havoc pass, under the address-space bound (run
    by the tests and by benchmarks/fuzz_campaign.py in a child process). Returns the summary."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--summary", type=Path, help="also write the results as JSON here")
    parser.add_argument("--seconds", type=float, help="run havoc cases for this long instead")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    codec, samples = make_codec_and_samples()
    corpus = read_corpus()
    for data in [s.data for s in samples] + corpus:  # also does every lazy allocation before the bound
        decode_case(codec, data, None, sealed=False)
    limit = bound_address_space(ADDRESS_SPACE_MARGIN)
    start = time.perf_counter()
    if args.seconds is None:
        report = run_campaign(codec, samples, RESEALED_MUTATIONS, RESEALED_CASES_PER_KIND, args.seed, sealed=True,
                              progress=True)
    else:
        report = run_time_boxed(codec, samples, corpus, args.seconds, args.seed)
    seconds = time.perf_counter() - start
    summary = {
        "outcomes": report.outcomes, "cases": report.cases, "failures": report.failures,
        "slowest": report.slowest, "seconds": seconds, "address_space_limit": limit,
        "allocation_refused": limit is not None and allocation_refused(2 * ADDRESS_SPACE_MARGIN),
        "peak_rss_bytes": peak_rss(), "corpus_files": len(corpus), "table": report.table(),
    }
    if args.summary:
        args.summary.write_text(json.dumps(summary, indent=1))
    bound = "not bounded (RLIMIT_AS unavailable)" if limit is None else f"bounded at {limit / 2**30:.2f} GiB"
    print(f"{report.cases} cases in {seconds:.1f} s, {len(report.failures)} failures, slowest decode"
          f" {report.slowest[0]:.3f} s ({report.slowest[1]}); address space {bound}, peak RSS"
          f" {summary['peak_rss_bytes'] / 2**20:.0f} MiB\n{summary['table']}")
    return summary


def peak_rss() -> int:
    """This process's peak resident memory in bytes (0 where ``resource`` is missing)."""
    try:
        import resource
    except ImportError:
        return 0
    kib_or_bytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib_or_bytes if sys.platform == "darwin" else kib_or_bytes * 1024


# ------------------------------------------------------------------ tests
@pytest.fixture(scope="module")
def codec_and_samples() -> tuple[MSPCodec, list[Sample]]:
    return make_codec_and_samples()


def test_raw_mutations_are_reported_as_checksum_failures(codec_and_samples):
    codec, samples = codec_and_samples
    report = run_campaign(codec, samples, RAW_MUTATIONS, RAW_CASES_PER_KIND, SEED, sealed=False)
    print(f"\nraw mutations, {report.cases} cases:\n{report.table()}")
    assert report.cases == RAW_CASES_PER_KIND * len(RAW_MUTATIONS)
    assert not report.failures, "\n".join(report.failures[:10])
    assert report.slowest[0] < DECODE_SECONDS, report.slowest


def test_dimensions_inside_the_limits_but_inconsistent_with_the_payload_fail_cleanly(codec_and_samples):
    codec, samples = codec_and_samples
    sample = samples[0]  # 64x64: its factorised scale is one 1x1 latent position
    # Too small for a factorised scale: its substream is never read, so it must be reported as left over.
    smaller = [(1, 1), (32, 32), (48, 256), (256, 16)]
    # Larger: ANS cannot tell missing trailing symbols from improbable ones, so these may also decode.
    larger = [(65, 64), (80, 80), (128, 128), (256, 64), (64, 256)]
    for height, width in smaller + larger:
        data = assemble(dataclasses.replace(sample.fields, height=height, width=width), sample.lengths, sample.payload)
        start = time.perf_counter()
        outcome, problem = decode_case(codec, data, None, sealed=True)
        assert time.perf_counter() - start < DECODE_SECONDS, (height, width)
        assert problem is None, (height, width, problem)
        if (height, width) in smaller:
            assert outcome == "CorruptStreamError (entropy_coding)", (height, width, outcome)


def test_dimensions_beyond_the_limits_are_refused_before_decoding(codec_and_samples, monkeypatch):
    codec, samples = codec_and_samples

    def no_decoding(*args):
        raise AssertionError("the entropy decoder ran on a stream beyond the limits")

    monkeypatch.setattr("lic_zoo.codec.Decoder", no_decoding)
    for height, width in [(LIMITS.max_side + 1, 1), (LIMITS.max_side, LIMITS.max_side), (65_536, 65_536)]:
        data = assemble(dataclasses.replace(samples[0].fields, height=height, width=width), samples[0].lengths,
                        samples[0].payload)
        with pytest.raises(LimitExceededError):
            codec.decompress(data)


def test_a_tiny_stream_claiming_100_megapixels_fails_fast_and_small():
    """The factorised scale's probability rows are built per channel, not for the whole claimed size at once
    (3.8 GB and 24 s for such a file before; docs/robustness.md), so a short substream fails at the coarsest
    scale. Shipped weights: an untrained codec's factorised scale costs almost no bits per symbol, so its short
    substream lasts into the context steps, which then run at the claimed size (as for a real flat image)."""
    codec = lic_zoo.load("msp-lite", quality=5)
    header, reader = bitstream.read_header(codec.compress(synthetic_image(64, 64), lof_steps=0))
    substreams = bitstream.read_substreams(reader, codec.profile.scales + 1)
    data = bitstream.pack(dataclasses.replace(header, height=10_000, width=10_000), substreams)
    assert len(data) < 1000 and Limits().max_pixels >= 10_000 * 10_000  # inside the default limits
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(CorruptStreamError, match="ends early"):
            codec.decompress(data, limits=Limits())
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert seconds < 2.0, seconds  # 0.17 s measured; the bound leaves room for a loaded machine
    assert peak < 100 * 2**20, peak


def overlong(value: int, extra: int) -> bytes:
    """``value`` as a varint padded with ``extra`` redundant groups (continuation bytes, then a zero byte)."""
    canonical = bytearray(varint(value))
    canonical[-1] |= 0x80
    return bytes(canonical) + b"\x80" * (extra - 1) + b"\x00"


def test_varints_are_canonical():
    for value in [0, 1, 127, 128, 300, 2**14, 2**28 - 1, MAX_VARINT]:
        encoded = varint(value)
        assert bitstream._Reader(encoded, len(encoded)).varint() == value
        for extra in range(1, bitstream._MAX_VARINT_BYTES - len(encoded) + 1):
            padded = overlong(value, extra)
            with pytest.raises(CorruptStreamError, match="over-long"):
                bitstream._Reader(padded, len(padded)).varint()


def test_streams_with_overlong_dimensions_or_lengths_are_refused(codec_and_samples):
    codec, samples = codec_and_samples
    sample = samples[1]
    fields, lengths = sample.fields.encode(), [varint(n) for n in sample.lengths]
    for body in [sample.fields.encode(height=overlong(sample.fields.height, 1)) + b"".join(lengths),
                 sample.fields.encode(width=overlong(sample.fields.width, 2)) + b"".join(lengths),
                 fields + b"".join(lengths[:-1]) + overlong(sample.lengths[-1], 1)]:
        with pytest.raises(CorruptStreamError, match="over-long"):
            codec.decompress(seal(body + sample.payload))
    assert codec.decompress(seal(fields + b"".join(lengths) + sample.payload)).shape[1:] == (48, 80)


def run_child(path: Path, *args: str) -> dict:
    """Runs :func:`main` in a child process (killed after CAMPAIGN_SECONDS); prints its table, returns its summary."""
    command = [sys.executable, __file__, "--summary", str(path), *args]
    try:
        child = subprocess.run(command, capture_output=True, text=True, timeout=CAMPAIGN_SECONDS,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    except subprocess.TimeoutExpired as exc:
        stderr = exc.stderr.decode() if isinstance(exc.stderr, bytes) else exc.stderr or ""
        last = stderr.strip().splitlines()[-1] if stderr.strip() else "setup"
        pytest.fail(f"the fuzz campaign hung (> {CAMPAIGN_SECONDS} s) at {last}")
    if child.returncode != 0:
        pytest.fail(f"the fuzz campaign died (exit {child.returncode}):\n{child.stderr[-3000:]}")
    print(f"\n{child.stdout}")
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def resealed_summary(tmp_path_factory) -> dict:
    return run_child(tmp_path_factory.mktemp("fuzz") / "summary.json")


@pytest.fixture(scope="module")
def havoc_summary(tmp_path_factory) -> dict:
    return run_child(tmp_path_factory.mktemp("havoc") / "summary.json", "--seconds", str(FUZZ_SECONDS))


def test_seed_corpus_decodes_or_raises_typed_errors(codec_and_samples):
    codec, _ = codec_and_samples
    corpus = read_corpus()
    assert len(corpus) >= 8, f"the seed corpus in {CORPUS} is missing"
    report = Report()
    for i, data in enumerate(corpus):
        record_case(report, codec, "corpus", f"corpus file {i}", data, None, sealed=False)
    assert not report.failures, "\n".join(report.failures)
    assert report.slowest[0] < DECODE_SECONDS, report.slowest


def test_time_boxed_fuzz_pass_raises_typed_errors_only(havoc_summary):
    assert havoc_summary["seconds"] >= FUZZ_SECONDS and havoc_summary["corpus_files"] >= 8
    assert havoc_summary["cases"] >= 10 * FUZZ_SECONDS, havoc_summary["cases"]  # a decode takes about 20 ms
    failures = havoc_summary["failures"]
    assert not failures, f"{len(failures)} failures, first ones:\n" + "\n".join(failures[:10])
    seconds, label = havoc_summary["slowest"]
    assert seconds < DECODE_SECONDS, f"{label} took {seconds:.1f} s"
    outcomes = havoc_summary["outcomes"]["havoc"]
    assert {"decoded", "CorruptStreamError (bitstream)", "CorruptStreamError (entropy_coding)"} <= set(outcomes)
    if havoc_summary["address_space_limit"] is not None:  # every case ran under the bound, and the bound bites
        assert havoc_summary["allocation_refused"]


def test_resealed_mutations_decode_or_raise_typed_errors(resealed_summary):
    assert resealed_summary["cases"] == RESEALED_CASES_PER_KIND * len(RESEALED_MUTATIONS)
    failures = resealed_summary["failures"]
    assert not failures, f"{len(failures)} failures, first ones:\n" + "\n".join(failures[:10])


def test_resealed_mutations_reach_every_stage_of_the_decoder(resealed_summary):
    seen = {o for counts in resealed_summary["outcomes"].values() for o in counts}
    assert {"decoded", "CorruptStreamError (bitstream)", "CorruptStreamError (entropy_coding)",
            "LimitExceededError (bitstream)", "ModelMismatchError (codec)"} <= seen, seen


def test_every_decode_is_time_bounded(resealed_summary):
    seconds, label = resealed_summary["slowest"]
    assert seconds < DECODE_SECONDS, f"{label} took {seconds:.1f} s"


def test_decoding_stays_within_the_address_space_bound(resealed_summary):
    if resealed_summary["address_space_limit"] is None:
        pytest.skip("RLIMIT_AS is not available or not enforced on this platform")
    # The cases ran under the bound (an allocation beyond it would be an untyped failure above); the bound bites:
    assert resealed_summary["allocation_refused"]


if __name__ == "__main__":
    main()
