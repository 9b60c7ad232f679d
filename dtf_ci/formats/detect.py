"""Which tool wrote a results file: ``format: auto``, and "it looks like ..." in errors.

Only the file's first 64 KiB are read, so detection is cheap on a 100 MB log. Signatures
are the tool's own markers (a key only that tool writes, a line shape only it prints),
checked most specific first; when nothing matches, ``guess`` says None rather than guessing.
"""

from __future__ import annotations

import re
from pathlib import Path

from dtf_ci.formats._common import head_bytes

HEAD_BYTES = 64 * 1024

# (format, markers that must all appear) for JSON documents, most specific first.
_JSON_SIGNATURES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("jmh-raw", ('"jmhVersion"',)),
    ("julia", ('"BenchmarkTools"',)),
    ("benchmarkdotnet-raw", ('"Benchmarks"', '"FullName"')),
    ("asv", ('"result_columns"',)),
    ("asv", ('"commit_hash"', '"env_name"', '"results"')),
    ("cargo-criterion", ('"reason"', '"benchmark-complete"')),
    ("pytest-benchmark", ('"machine_info"', '"benchmarks"')),
    ("pytest-benchmark", ('"benchmarks"', '"stats"', '"fullname"')),
    ("google-benchmark", ('"benchmarks"', '"real_time"')),
    ("google-benchmark", ('"context"', '"benchmarks"', '"library_build_type"')),
    ("hyperfine", ('"results"', '"command"', '"median"')),
    ("hyperfine", ('"results"', '"command"', '"times"')),
    ("vitest", ('"files"', '"groups"', '"benchmarks"')),
    ("custom-smaller-is-better", ('"name"', '"value"')),
)

# (format, pattern) for console output, most specific first; one matching line decides.
_TEXT_SIGNATURES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("catch2-seconds", re.compile(r"^benchmark name\s+samples\s+iterations\s+(estimated|est run time)")),
    ("criterion", re.compile(r"\btime:\s+\[\S+ \S+ \S+ \S+ \S+ \S+\]")),
    ("cargo-bench", re.compile(r"^test .+ \.\.\. bench:\s+[\d,.]+ \S+/iter")),
    ("go-bench", re.compile(r"^Benchmark\S*\s+\d+\s+[-+\d.eE]+\s+\S+")),
    ("benchmark-js", re.compile(r" x [\d,.]+ ops/sec (±|\+-)")),
    ("luau", re.compile(r"^SUCCESS:\s+\S+\s+:\s+[\d.]+")),
    ("iai", re.compile(r"^\s+Instructions:\s+\d")),
    ("dart-benchmark", re.compile(r"^\S.*\(RunTime\): [-+\d.eE]+ us\.?\s*$")),
    ("ruby-benchmark", re.compile(r"^\s*user\s+system\s+total\s+real\s*$")),
    ("console-time", re.compile(r"^[^:]+: [\d.]+(ms|s)$")),
)


def guess(path: Path) -> str | None:
    """The format whose output ``path`` looks like, or None (also for unreadable files)."""
    head = head_bytes(path, HEAD_BYTES)  # a FIFO or a device is not opened at all
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if not text:
        return None
    if text.startswith("<"):
        if re.search(r"<Catch2?TestRun|<Catch\b|<Group\b", text):
            return "catch2-seconds"
        if re.search(r"<testsuites?\b", text):
            return "junit"
        return None
    if text.startswith(("{", "[")):
        for fmt, markers in _JSON_SIGNATURES:
            if all(m in text for m in markers):
                return fmt
    if text.startswith("{") and '"reason"' in text:
        return "cargo-criterion"
    for line in text.splitlines()[:2000]:
        for fmt, pattern in _TEXT_SIGNATURES:
            if pattern.search(line):
                return fmt
    return None
