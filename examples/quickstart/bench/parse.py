"""JSON parse and dump of the prepared records (seconds, smaller is better)."""

import json
import sys
from pathlib import Path

from _timing import best_of, slowdown, write

data, results = Path(sys.argv[1]), sys.argv[2]
text = (data / "records.json").read_text()
records = json.loads(text)
k = slowdown("json_loads")
write(results, [
    {"name": "json_loads", "unit": "s", "value": best_of(lambda: [json.loads(text) for _ in range(round(4 * k))]) / 4},
    {"name": "json_dumps", "unit": "s", "value": best_of(lambda: json.dumps(records))},
])
