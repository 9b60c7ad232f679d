"""Machine drift: when a host, not the code, made a run slower or faster.

A code change moves the series it touches, on every host that runs them. A machine problem
(thermal throttling, a noisy neighbour, a changed governor, a driver update) moves *most
series on one host by about the same factor*, while the same commit on other hosts does not
move. That is the signature looked for here, with robust statistics (medians), per target:

1. a host qualifies when it ran at least ``min_series`` series, its median log ratio (the
   factor) is beyond ``min_shift``, and at least ``share`` of its series moved with it (same
   direction, at least half the factor, not much past it): they "moved together";
2. its peers are the other hosts of the same target. It is drifting only when the peers'
   median moved less than half as much and at most a quarter of the peers' series moved with
   the factor: the same commit did not slow them;
3. a host alone in its target needs much stronger evidence: at least 90 % of its series
   coherent, a factor of at least 5 %, a tight spread, and hosts of other targets (if any)
   that did not move alike. Even then a code change that slows every benchmark alike cannot
   be told apart from the machine; the finding says so, and the team decides.

No learned model is used: with the handful of hosts a run has, a robust median test is
exact, explainable and deterministic. An IsolationForest over per-host residuals was measured
against it (``benchmarks/bench_stats.py``) and is kept out for the reasons in
``docs/statistics.md``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

__all__ = ["DriftFinding", "detect_drift"]

#: Largest share of the peers' series that may have moved with the factor: more, and it is the
#: commit (it touched many benchmarks, on every host), not one machine.
_PEER_SHARE = 0.25


@dataclass(frozen=True)
class DriftFinding:
    """One host whose series moved together: a machine problem, not a code regression.

    ``factor`` is the common ratio (current ÷ baseline, 1.12 = 12 % larger values),
    ``series_count`` how many series the host ran, ``share`` the fraction that moved with
    the factor, ``series`` those series (keep them out of the regression count).
    """

    host: str
    target: str
    factor: float
    series_count: int
    share: float
    series: list[str] = field(default_factory=list)
    peers: int = 0
    reason: str = ""


def _rows(rows: Iterable[Mapping[str, object]]) -> list[tuple[str, str, str, float]]:
    out = []
    for i, row in enumerate(rows):
        try:
            host, target, series = str(row["host"]), str(row["target"]), str(row["series"])
            lr = float(row["log_ratio"])  # type: ignore[arg-type]
        except KeyError as exc:
            raise ValueError(f"rows[{i}]: missing key {exc} (need host, target, series, log_ratio)") from None
        except (TypeError, ValueError):
            raise ValueError(f"rows[{i}]: log_ratio must be a number, got {row['log_ratio']!r}") from None
        if not math.isfinite(lr):
            raise ValueError(f"rows[{i}]: log_ratio is {lr} (must be finite)")
        out.append((host, target, series, lr))
    return out


def _moved(lrs: np.ndarray, centre: float, noise: float) -> np.ndarray:
    """Series that moved with the common factor: same side, at least half of it, not far past."""
    size = np.abs(lrs) * (np.sign(lrs) == np.sign(centre))
    return (size >= 0.5 * abs(centre)) & (size <= abs(centre) + max(0.5 * abs(centre), 2.0 * noise))


def detect_drift(
    rows: Iterable[Mapping[str, object]],
    *,
    min_series: int = 5,
    share: float = 0.7,
    min_shift: float = 0.03,
) -> list[DriftFinding]:
    """Hosts whose series moved together while the same commit elsewhere did not.

    ``rows``: one dict per series per host of this run, ``{"host", "target", "series",
    "log_ratio"}`` with ``log_ratio = log(current median / baseline median)``. ``min_shift``
    is the smallest common change (fraction) worth calling drift. Findings are sorted by the
    size of the factor, largest first.
    """
    if min_series < 1:
        raise ValueError(f"min_series must be >= 1, got {min_series}")
    if not 0.5 <= share <= 1.0:
        raise ValueError(f"share must be between 0.5 and 1, got {share}")
    data = _rows(rows)
    by_host: dict[tuple[str, str], list[tuple[str, float]]] = {}
    for host, target, series, lr in data:
        by_host.setdefault((target, host), []).append((series, lr))
    band = math.log1p(min_shift)
    findings: list[DriftFinding] = []
    for (target, host), items in by_host.items():
        if len(items) < min_series:
            continue
        lrs = np.array([lr for _, lr in items])
        centre = float(np.median(lrs))
        if abs(centre) <= band:
            continue
        same_target = [lr for (t, h), its in by_host.items() if t == target and h != host for _, lr in its]
        other = [lr for (t, h), its in by_host.items() if t != target for _, lr in its]
        peers = np.array(same_target or other)
        n_peer_hosts = len({(t, h) for (t, h) in by_host
                            if h != host and (t == target or not same_target)})
        # Noise seen on the peers widens the band above the factor, never below half of it.
        noise = 1.4826 * float(np.median(np.abs(peers - np.median(peers)))) if peers.size else 0.0
        together = _moved(lrs, centre, noise)
        frac = float(together.mean())
        peer_centre = float(np.median(peers)) if peers.size else 0.0
        if peers.size and (abs(peer_centre) >= 0.5 * abs(centre)
                           or float(_moved(peers, centre, noise).mean()) > _PEER_SHARE):
            continue  # the others moved too: the commit, not the machine
        moved = f"{frac:.0%} of {len(items)} series on {host} moved by x{math.exp(centre):.3f}"
        if same_target:
            if frac < share:
                continue
            reason = f"{moved} while the other hosts of {target} moved x{math.exp(peer_centre):.3f}"
        else:
            spread = 1.4826 * float(np.median(np.abs(lrs - centre)))
            if (frac < max(share, 0.9) or abs(centre) <= math.log1p(max(min_shift, 0.05))
                    or spread > 0.25 * abs(centre)):
                continue
            reason = f"{moved}; {host} is the only host of {target}"
            reason += (f" (hosts of other targets moved x{math.exp(peer_centre):.3f})" if other else "")
            reason += ", so a code change that slows every series alike would look the same"
        findings.append(DriftFinding(
            host=host, target=target, factor=math.exp(centre), series_count=len(items),
            share=frac, series=sorted(s for (s, _), ok in zip(items, together, strict=True) if ok),
            peers=n_peer_hosts, reason=reason,
        ))
    findings.sort(key=lambda f: -abs(math.log(f.factor)))
    return findings
