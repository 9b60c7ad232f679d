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
    # A slowdown hashes more bytes than it reports: the throughput drops by that factor.
    work = blob * int(slowdown(name) + 1)
    work = work[: int(len(blob) * slowdown(name))]
    seconds = best_of(lambda name=name, work=work: hashlib.new(name, work).digest(), loops=3)
    rows.append({"name": f"{name}_throughput", "unit": "MB/s", "value": mb / seconds})
write(results, rows)
