"""Pure packing: put weighted items into k shards so the longest shard is as short as possible.

This is multiway number partitioning (NP-hard), so dtf does what works in practice: LPT
(longest first onto the lightest shard), then a local search that moves or swaps items out of
the longest shard while that makes it shorter, and for small inputs also Karmarkar–Karp
differencing, keeping whichever is better. The planner calls :func:`choose_shards` to pick
how many shards a (target, wave) gets; nothing here knows about tasks or targets.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Sequence

GOOD_ENOUGH = 1e-4  # relative gap to the lower bound at which the search stops (0.01%)
PARTNERS = 8  # lightest shards tried as partners of the longest one per round
KK_LIMIT = 4000  # items x shards below which Karmarkar-Karp also runs (it is O(n k log n))
EPS = 1e-9


def lower_bound(weights: Sequence[float], k: int) -> float:
    """No packing into k shards can have a shorter longest shard than this."""
    if not weights:
        return 0.0
    return max(sum(weights) / max(1, k), max(weights))


def lpt(weights: Sequence[float], k: int) -> list[list[int]]:
    """Longest processing time first: each item onto the currently lightest shard."""
    k = max(1, min(k, len(weights))) if weights else max(1, k)
    bins: list[list[int]] = [[] for _ in range(k)]
    heap = [(0.0, b) for b in range(k)]
    for i in sorted(range(len(weights)), key=lambda i: (-weights[i], i)):
        load, b = heapq.heappop(heap)
        bins[b].append(i)
        heapq.heappush(heap, (load + weights[i], b))
    return bins


def karmarkar_karp(weights: Sequence[float], k: int) -> list[list[int]]:
    """Complete-greedy differencing: merge the two partitions with the largest spreads, reversed."""
    k = max(1, k)
    heap: list[tuple[float, int, list[float], list[list[int]]]] = []
    for i, w in enumerate(weights):
        loads = [w] + [0.0] * (k - 1)
        sets: list[list[int]] = [[i]] + [[] for _ in range(k - 1)]
        heap.append((-w, i, loads, sets))
    heapq.heapify(heap)
    counter = len(weights)
    while len(heap) > 1:
        _, _, la, sa = heapq.heappop(heap)
        _, _, lb, sb = heapq.heappop(heap)
        order_a = sorted(range(k), key=lambda j: -la[j])  # largest of a with smallest of b
        order_b = sorted(range(k), key=lambda j: lb[j])
        loads = [la[order_a[j]] + lb[order_b[j]] for j in range(k)]
        sets = [sa[order_a[j]] + sb[order_b[j]] for j in range(k)]
        order = sorted(range(k), key=lambda j: -loads[j])
        loads = [loads[j] for j in order]
        sets = [sets[j] for j in order]
        counter += 1
        heapq.heappush(heap, (-(loads[0] - loads[-1]), counter, loads, sets))
    if not heap:
        return [[] for _ in range(k)]
    return [s for s in heap[0][3]]


def improve(weights: Sequence[float], bins: list[list[int]], max_rounds: int | None = None) -> list[list[int]]:
    """Local search on the longest shard: the best single move or swap that shortens it.

    Stops at the lower bound, when no move or swap helps, or after ``max_rounds``. Each round
    pairs the longest shard with the few lightest ones (where a move or swap has room), with
    each shard's items kept sorted, so a round costs O(|longest| * log n), not all pairs.
    """
    k = len(bins)
    if k < 2:
        return bins
    loads = [sum(weights[i] for i in b) for b in bins]
    bound = lower_bound(weights, k)
    rounds = max_rounds if max_rounds is not None else 4 * k + 50
    sorted_bins = [sorted(b, key=lambda i: weights[i]) for b in bins]
    keys = [[weights[i] for i in b] for b in sorted_bins]
    for _ in range(rounds):
        m = max(range(k), key=lambda b: (loads[b], -b))
        top = loads[m]
        if top <= bound * (1 + GOOD_ENOUGH) + EPS:
            break
        best = (top, -1, -1, -1)  # (new max of the two shards, item in m, shard, item in shard)
        for b in heapq.nsmallest(min(k - 1, PARTNERS), (b for b in range(k) if b != m),
                                 key=lambda b: (loads[b], b)):
            gap = top - loads[b]
            if gap <= EPS:
                continue
            for pos, wi in enumerate(keys[m]):
                # move: item of m to b
                new = max(top - wi, loads[b] + wi)
                if new < best[0] - EPS:
                    best = (new, pos, b, -1)
                # swap with the item of b nearest to wi - gap/2 (wj < wi)
                target = wi - gap / 2
                kb = keys[b]
                j = bisect.bisect_left(kb, target)
                for q in (j - 1, j):
                    if 0 <= q < len(kb) and kb[q] < wi:
                        d = wi - kb[q]
                        new = max(top - d, loads[b] + d)
                        if new < best[0] - EPS:
                            best = (new, pos, b, q)
        if best[1] < 0:
            break
        _, pos, b, q = best
        item = sorted_bins[m].pop(pos)
        wi = keys[m].pop(pos)
        loads[m] -= wi
        loads[b] += wi
        if q >= 0:
            other = sorted_bins[b].pop(q)
            wj = keys[b].pop(q)
            loads[b] -= wj
            loads[m] += wj
            at = bisect.bisect_left(keys[m], wj)
            keys[m].insert(at, wj)
            sorted_bins[m].insert(at, other)
        at = bisect.bisect_left(keys[b], wi)
        keys[b].insert(at, wi)
        sorted_bins[b].insert(at, item)
    return sorted_bins


def pack(weights: Sequence[float], k: int) -> list[list[int]]:
    """The best packing dtf finds of ``weights`` into at most ``k`` non-empty shards."""
    n = len(weights)
    if n == 0:
        return []
    k = max(1, min(k, n))
    best = improve(weights, lpt(weights, k))
    if n * k <= KK_LIMIT and k > 1:
        alt = improve(weights, [b for b in karmarkar_karp(weights, k) if b])
        if _makespan(weights, alt) < _makespan(weights, best) - EPS:
            best = alt
    return [sorted(b) for b in best if b]


def _makespan(weights: Sequence[float], bins: list[list[int]]) -> float:
    return max((sum(weights[i] for i in b) for b in bins), default=0.0)


def choose_shards(weights: Sequence[float], max_shards: int, overhead: float,
                  tolerance: float = 0.01) -> tuple[int, list[list[int]]]:
    """How many shards (1..max_shards) and their packing, for the soonest finish.

    Finish time is ``overhead + longest shard``; shards beyond the runners would queue and pay
    the start-up cost again, so ``max_shards`` is the runners that may run at once. Among
    shard counts that finish within ``tolerance`` (or 1 s) of the best, the fewest wins: a
    shard that saves nobody any waiting still costs a job start-up in runner-minutes.
    """
    n = len(weights)
    if n == 0:
        return 0, []
    cap = max(1, min(max_shards, n))
    total, biggest = sum(weights), max(weights)
    best_bound = max(total / cap, biggest)
    slack = max(tolerance * (overhead + best_bound), 1.0 if overhead >= 1.0 else 0.0)
    # fewest shards whose bound is within the slack of the best bound
    k = cap
    if total > 0:
        k = min(cap, max(1, math.ceil(total / max(best_bound + slack, EPS) - 1e-9)))
    else:
        k = 1
    bins = pack(weights, k)
    span = _makespan(weights, bins)
    best_bins, best_span = bins, span
    tries = 0
    while span > best_bound + slack + EPS and k < cap and tries < 6:
        k = min(cap, k + max(1, k // 16))
        bins = pack(weights, k)
        span = _makespan(weights, bins)
        if span < best_span - EPS:
            best_bins, best_span = bins, span
        tries += 1
    return len(best_bins), best_bins


def allocate(demands: list[tuple[float, float, int]], cap: int) -> list[int]:
    """Split at most ``cap`` shards among targets of one wave, the slowest target first.

    ``demands`` holds (total work, biggest item, wanted shards) per target. When the wanted
    shards fit, everyone gets them; otherwise shards go one at a time to whichever target
    would finish last (its bound max(work/k, biggest)), which minimises the wave's finish.
    """
    if sum(d[2] for d in demands) <= cap:
        return [d[2] for d in demands]
    alloc = [1 if d[2] > 0 else 0 for d in demands]
    spare = cap - sum(alloc)
    heap = [(-max(w / 1, big), i) for i, (w, big, want) in enumerate(demands) if want > 1]
    heapq.heapify(heap)
    while spare > 0 and heap:
        _, i = heapq.heappop(heap)
        alloc[i] += 1
        spare -= 1
        w, big, want = demands[i]
        if alloc[i] < want:
            heapq.heappush(heap, (-max(w / alloc[i], big), i))
    return alloc
