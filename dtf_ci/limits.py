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
    """Largest benchmark results file dtf reads, in ``dtf run``, ``dtf parse`` and every format
    alike (``DTF_MAX_RESULTS_BYTES``, default 256 MiB). Console output is streamed, so only this
    bound applies to it; a JSON or XML document is read whole, which takes up to ~10 times its
    size in memory (a 256 MiB document of small objects took 2.5 GB): lower the bound on small
    runners."""
    raw = os.environ.get("DTF_MAX_RESULTS_BYTES", "")
    return int(raw) if raw.isdigit() else 256 * 1024 ** 2


def results_too_large(size: int, limit: int) -> str:
    """The one wording for a results file over ``max_results_bytes()`` (callers put the file
    name before it), with the fix."""
    mib = 1024 ** 2
    bound = f"{limit // mib} MiB" if limit >= mib and limit % mib == 0 else f"{limit:,} bytes"
    return (f"is {size / 1e6:.1f} MB, more than the {bound} dtf reads from one results file; "
            "write fewer raw samples or split the benchmarks over several tasks "
            "(or raise DTF_MAX_RESULTS_BYTES)")


PIPELINE_NAME_MAX = 40  # a pipeline's name (the action's `name` input, `--name`)
DEFAULT_PIPELINE = "dtf"  # the name that posts as plain `dtf`, as before names existed


def pipeline_name(raw: object) -> str:
    """The pipeline name as dtf uses it: ``[a-z0-9-]``, at most 40 characters; ``""`` for the default.

    It comes from a workflow input or a plan file and ends up in a commit status context
    (``dtf / NAME``), an HTML comment marker and artifact names, so it is cut down to the
    same letters the action derives names with: ASCII letters are lowercased, every run of
    anything else becomes one ``-``. ``dtf`` (what ``dtf.yml`` gives) and a name with nothing
    left are the default pipeline, which posts as plain ``dtf``.
    """
    out: list[str] = []
    for ch in str(raw or ""):
        if len(out) > PIPELINE_NAME_MAX:  # a hostile 100,000 characters is not read to the end
            break
        ch = ch.lower() if "A" <= ch <= "Z" else ch
        if "a" <= ch <= "z" or "0" <= ch <= "9":
            out.append(ch)
        elif out and out[-1] != "-":
            out.append("-")
    name = "".join(out)[:PIPELINE_NAME_MAX].strip("-")
    return "" if name == DEFAULT_PIPELINE else name
