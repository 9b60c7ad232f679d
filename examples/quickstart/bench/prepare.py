"""Make the data every other benchmark reads (the `prepare` task others depend on)."""

import json
import random
import sys
from pathlib import Path

out = Path(sys.argv[1])
out.mkdir(exist_ok=True)
rng = random.Random(42)
ints = [rng.randrange(10**9) for _ in range(100_000)]
words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 12))) for _ in range(20_000)]
records = [{"id": i, "name": words[i % len(words)], "score": rng.random(), "tags": words[i % 7: i % 7 + 3]} for i in range(5_000)]
(out / "ints.json").write_text(json.dumps(ints))
(out / "words.json").write_text(json.dumps(words))
(out / "records.json").write_text(json.dumps(records))
(out / "blob.bin").write_bytes(rng.randbytes(4 * 2**20))
print(f"wrote {len(ints)} ints, {len(words)} words, {len(records)} records, 4 MiB blob to {out}/")
