"""Sorting benchmarks, in github-action-benchmark's customSmallerIsBetter format (seconds)."""

import json
import sys
from pathlib import Path

from _timing import best_of, scaled, write

data, results = Path(sys.argv[1]), sys.argv[2]
ints = scaled("sort_ints", json.loads((data / "ints.json").read_text()))
words = scaled("sort_words", json.loads((data / "words.json").read_text()))
write(results, [
    {"name": "sort_ints", "unit": "s", "value": best_of(lambda: sorted(ints))},
    {"name": "sort_words", "unit": "s", "value": best_of(lambda: sorted(words))},
])
