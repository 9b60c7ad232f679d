"""Hashing throughput, in github-action-benchmark's customBiggerIsBetter format (MB/s)."""

import hashlib
import sys
from pathlib import Path

from _timing import best_of, slowdown, write

data, results = Path(sys.argv[1]), sys.argv[2]
blob = (data / "blob.bin").read_bytes()
mb = len(blob) / 1e6
rows = []
for name in ("sha256", "blake2b"):
    rounds = slowdown(name)
    seconds = best_of(lambda name=name: [hashlib.new(name, blob).digest() for _ in range(max(1, round(rounds)))], loops=3)
    rows.append({"name": f"{name}_throughput", "unit": "MB/s", "value": mb / (seconds / max(rounds, 1))})
write(results, rows)
