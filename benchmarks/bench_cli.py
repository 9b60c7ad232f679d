"""Measure ``dtf --help`` start-up time and which heavy modules it imports.

    python benchmarks/bench_cli.py            # 30 runs of each command (well under a minute)
    python benchmarks/bench_cli.py --quick    # 15 runs of each command

Commands, timed in interleaved rounds (a different order each round, so a noisy neighbour
hurts all of them alike), each a fresh process with output to /dev/null:

- ``python -c pass``: the interpreter's own start-up, the baseline;
- ``python -m dtf_ci --help``;
- ``dtf --help`` through the console script next to the interpreter;
- ``dtf --help`` as found on PATH, when that is something else (a pyenv shim adds a shell
  script and a second interpreter start; reported for information, not against the target).

Target: median of ``python -m dtf_ci --help`` under 0.3 s, and none of the heavy modules
(duckdb, numpy, scipy, sklearn, github, gitlab, jinja2, rich, psutil) imported by
``--help``; checked with ``python -X importtime``, which lists every module the real command
imports.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import load, machine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("duckdb", "numpy", "scipy", "sklearn", "github", "gitlab", "jinja2", "rich", "psutil")
TARGET_S = 0.3


def time_once(cmd: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
                          check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited with {proc.returncode}")
    return elapsed


def commands() -> dict[str, list[str]]:
    py = sys.executable
    cmds = {"python -c pass": [py, "-c", "pass"],
            "python -m dtf_ci --help": [py, "-m", "dtf_ci", "--help"]}
    script = Path(sysconfig.get_path("scripts")) / "dtf"
    if script.is_file():
        cmds["dtf --help (console script)"] = [str(script), "--help"]
    on_path = shutil.which("dtf")
    if on_path and Path(on_path).resolve() != script.resolve():
        cmds[f"dtf --help (PATH: {on_path})"] = [on_path, "--help"]
    return cmds


def heavy_imports(args: list[str]) -> tuple[list[str], list[tuple[int, str]], int]:
    """(heavy top-level packages imported, dtf_ci's 10 slowest imports in µs, module count)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "dtf_ci", *args],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                          check=False)
    modules: list[tuple[int, str]] = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _self_part, cumulative, name = line.split("|", 2)
        modules.append((int(cumulative), name.strip()))
    names = {name.split(".")[0] for _, name in modules}
    heavy = sorted(h for h in HEAVY if h in names)
    top = sorted(modules, reverse=True)[:10]
    return heavy, top, len(modules)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="15 runs per command instead of 30")
    ap.add_argument("--runs", type=int, help="runs per command (default 30, or 15 with --quick)")
    opts = ap.parse_args()
    runs = opts.runs or (15 if opts.quick else 30)

    print("# dtf --help start-up\n")
    for line in machine():
        print(f"- {line}")
    cmds = commands()
    for cmd in cmds.values():  # warm the page cache and .pyc files; not counted
        time_once(cmd)
    times: dict[str, list[float]] = {name: [] for name in cmds}
    rng = random.Random(42)
    for _ in range(runs):
        order = list(cmds)
        rng.shuffle(order)
        for name in order:
            times[name].append(time_once(cmds[name]))

    base = statistics.median(times["python -c pass"])
    print(f"\n{runs} runs per command, interleaved in shuffled order; seconds "
          f"(load average now {load()})\n")
    print("| command | median | min | max | median − baseline |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"| `{name}` | {med:.3f} | {min(ts):.3f} | {max(ts):.3f} | {med - base:+.3f} |")

    print("\n## Modules imported (python -X importtime -m dtf_ci ...)\n")
    all_clean = True
    for args in (["--help"], ["run", "--help"], ["aggregate", "--help"], ["--version"]):
        heavy, top, count = heavy_imports(args)
        all_clean &= not heavy
        print(f"- `dtf {' '.join(args)}`: {count} modules; heavy: {', '.join(heavy) or 'none'}")
    _, top, _ = heavy_imports(["--help"])
    print("\nslowest imports of `dtf --help` (cumulative µs, including site's .pth hooks):\n")
    for us, name in top:
        print(f"    {us:>8}  {name}")

    med = statistics.median(times["python -m dtf_ci --help"])
    ok_time = med < TARGET_S
    print("\n## Targets\n")
    print(f"- median `python -m dtf_ci --help` {med:.3f} s < {TARGET_S} s: "
          f"{'MET' if ok_time else 'MISSED'}")
    for name in cmds:
        if name.startswith("dtf --help (console"):
            m = statistics.median(times[name])
            print(f"- median `{name}` {m:.3f} s < {TARGET_S} s: {'MET' if m < TARGET_S else 'MISSED'}")
    print(f"- no heavy module imported by --help: {'MET' if all_clean else 'MISSED'}")
    return 0 if ok_time and all_clean else 1


if __name__ == "__main__":
    raise SystemExit(main())
