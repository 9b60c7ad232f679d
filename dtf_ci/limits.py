"""Bounds on everything dtf reads from files it did not write itself.

A name travels into file names (``mkdtemp`` prefixes, badge files), SVG text, Markdown
tables and CI logs; a name of 100,000 characters made each of them crash or crawl. The
suite checks names against these bounds when it is validated, and the aggregate step checks
them again when it reads shards and results, because a shard may come from anywhere.
The numbers sit in one place so that the writer and every reader agree.
"""

from __future__ import annotations

import os

NAME_MAX = 120  # task, target, metric, measurement unit, shard id, host id (characters)
UNIT_ID_MAX = 2 * NAME_MAX + 1  # "task@target"
RUN_ID_MAX = 200
TEXT_MAX = 4000  # free text read from a shard: reason, labels, facts (longer is cut)
JSON_MAX = 256 * 1024  # hosts.facts / hosts.hardware: JSON cut short is no JSON, so longer is NULL
OUTPUT_TAIL_MAX = 64 * 1024  # a failed unit's output tail kept in a shard (longer is cut)
MANIFEST_MAX_BYTES = 1024 * 1024


def max_shard_bytes() -> int:
    """Largest shard file accepted (``DTF_MAX_SHARD_BYTES``, default 2 GiB)."""
    raw = os.environ.get("DTF_MAX_SHARD_BYTES", "")
    return int(raw) if raw.isdigit() else 2 * 1024 ** 3


def max_results_bytes() -> int:
    """Largest benchmark results file ``dtf run`` reads (``DTF_MAX_RESULTS_BYTES``, default 256 MiB)."""
    raw = os.environ.get("DTF_MAX_RESULTS_BYTES", "")
    return int(raw) if raw.isdigit() else 256 * 1024 ** 2

