"""Placement, waves, shards, and the two numbers a plan is judged by: makespan and lower bound.

``place_tasks`` chooses the target of each ``across: one`` task.

Units arrive in topological order with their dependencies resolved to unit indices. A unit's
wave is the fewest the graph allows: a dependency on the same target adds no wave (both
units go into one shard, in order), a dependency on another target adds one (the dependent
starts after the earlier wave's jobs, and ``produces`` travel as an artifact).

Keeping same-target chains in one shard is free when they are small, but a heavy one (a
build that forty benchmarks depend on) would serialise the whole target. So the planner also
tries the alternative for each heavy group, cutting it at the dependency that frees the most
work into the next wave, and keeps whichever plan finishes sooner.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dtf_ci.estimates import Estimator
from dtf_ci.model import Suite
from dtf_ci.packing import allocate, choose_shards, pack

MATRIX_LIMIT = 256  # GitHub's jobs per matrix
MAX_CUT_WAVES = 3  # cutting same-target groups never makes a plan longer than this in waves
                   # (the reusable workflow runs waves 1-3); the graph alone may need more


class Unit:
    """A task placed on a target; ``deps`` are indices of earlier units."""

    __slots__ = ("id", "task", "target", "est", "source", "deps", "wave", "shard", "index")

    def __init__(self, index: int, task: str, target: str, est: float, source: str) -> None:
        self.index = index
        self.id = f"{task}@{target}"
        self.task = task
        self.target = target
        self.est = est
        self.source = source
        self.deps: list[int] = []
        self.wave = 1
        self.shard = ""


@dataclass
class Shard:
    id: str
    wave: int
    target: str
    units: list[int]
    load: float


@dataclass
class Layout:
    """The shards of a plan and its estimated finish time."""

    shards: list[Shard] = field(default_factory=list)
    waves: int = 0
    makespan: float = 0.0


@dataclass
class TargetLimits:
    """What packing may use on one target: shards at once and the start-up cost of each."""

    slots: int
    overhead: float


def place_tasks(suite: Suite, order: list[str], candidates: dict[str, list[str]], estimator: Estimator,
           limits: dict[str, TargetLimits]) -> dict[str, list[str]]:
    """Targets per task: every match for ``across: all``; for ``one``, the soonest finish.

    ``across: one`` tasks go longest first onto the target whose estimated finish (its work
    over its slots, at least its longest unit, plus start-up) stays lowest, with one start-up
    cost added where a dependency would have to cross targets.
    """
    placement: dict[str, list[str]] = {}
    work: dict[str, float] = {t: 0.0 for t in limits}
    longest: dict[str, float] = {t: 0.0 for t in limits}
    ones: list[tuple[float, int, str]] = []
    for pos, tid in enumerate(order):
        if tid not in candidates:
            continue
        task = suite.tasks[tid]
        if task.across == "one" and len(candidates[tid]) > 1:
            ests = [estimator.estimate(task, t)[0] for t in candidates[tid]]
            ones.append((-min(ests), pos, tid))
            continue
        placement[tid] = list(candidates[tid])
        for t in candidates[tid]:
            e = estimator.estimate(task, t)[0]
            work[t] += e
            longest[t] = max(longest[t], e)

    def finish(t: str) -> float:
        lim = limits[t]
        return lim.overhead + max(work[t] / lim.slots, longest[t]) if work[t] else 0.0

    for _, _, tid in sorted(ones):
        task = suite.tasks[tid]
        deps = suite.resolved_dependencies(tid)
        gmax = max((finish(t) for t in limits), default=0.0)
        best: tuple[float, float, int, str] | None = None
        for rank, t in enumerate(candidates[tid]):
            e = estimator.estimate(task, t)[0]
            lim = limits[t]
            own = lim.overhead + max((work[t] + e) / lim.slots, longest[t], e)
            if any(t not in placement.get(d, [t]) for d in deps):
                own += lim.overhead
            key = (max(own, gmax), own, rank, t)
            if best is None or key < best:
                best = key
        assert best is not None
        t = best[3]
        placement[tid] = [t]
        e = estimator.estimate(task, t)[0]
        work[t] += e
        longest[t] = max(longest[t], e)
    return placement


def assign_waves(units: list[Unit], cut: set[tuple[int, int]] | frozenset = frozenset()) -> None:
    """Fewest waves: +1 across targets, and across a same-target edge the planner chose to cut."""
    for u in units:
        w = 1
        for d in u.deps:
            du = units[d]
            dw = du.wave + (0 if du.target == u.target and (d, u.index) not in cut else 1)
            if dw > w:
                w = dw
        u.wave = w


def _components(units: list[Unit]) -> dict[int, list[int]]:
    """Units joined by a dependency on the same target in the same wave: they share a shard."""
    parent = list(range(len(units)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    joined = False
    for u in units:
        for d in u.deps:
            du = units[d]
            if du.target == u.target and du.wave == u.wave:
                a, b = find(d), find(u.index)
                if a != b:
                    parent[max(a, b)] = min(a, b)
                    joined = True
    if not joined:
        return {i: [i] for i in range(len(units))}
    groups: dict[int, list[int]] = {}
    for i, p in enumerate(parent):
        root = p if parent[p] == p else find(i)
        groups.setdefault(root, []).append(i)
    return groups


def layout(units: list[Unit], limits: dict[str, TargetLimits], target_order: list[str]) -> Layout:
    """Pack every (target, wave) into shards; shard ids ``{target}-w{wave}-{k}``, k from 1."""
    groups = _components(units)
    by_tw: dict[tuple[int, str], list[list[int]]] = {}
    for root in sorted(groups):
        members = groups[root]
        u = units[members[0]]
        by_tw.setdefault((u.wave, u.target), []).append(members)
    rank = {t: i for i, t in enumerate(target_order)}
    out = Layout()
    waves = sorted({w for w, _ in by_tw})
    out.waves = len(waves)
    for w in waves:
        keys = sorted((k for k in by_tw if k[0] == w), key=lambda k: rank.get(k[1], len(rank)))
        packed = []
        for key in keys:
            comps = by_tw[key]
            weights = [sum(units[i].est for i in c) for c in comps]
            lim = limits[key[1]]
            _, bins = choose_shards(weights, min(lim.slots, MATRIX_LIMIT), lim.overhead)
            packed.append((key, comps, weights, bins))
        if sum(len(p[3]) for p in packed) > MATRIX_LIMIT:
            demands = [(sum(p[2]), max(p[2]), len(p[3])) for p in packed]
            alloc = allocate(demands, MATRIX_LIMIT)
            packed = [(key, comps, weights, pack(weights, k) if k != len(bins) else bins)
                      for (key, comps, weights, bins), k in zip(packed, alloc, strict=True)]
        wave_span = 0.0
        for (_, target), comps, _weights, bins in packed:
            shard_units = [sorted(i for c in b for i in comps[c]) for b in bins]
            shard_units.sort(key=lambda s: s[0])
            for k, members in enumerate(shard_units, start=1):
                sid = f"{target}-w{w}-{k}"
                load = sum(units[i].est for i in members)
                for i in members:
                    units[i].shard = sid
                out.shards.append(Shard(id=sid, wave=w, target=target, units=members, load=load))
                wave_span = max(wave_span, limits[target].overhead + load)
        out.makespan += wave_span
    return out


def lower_bound(units: list[Unit], limits: dict[str, TargetLimits]) -> float:
    """The larger of the longest dependency chain and, per target, work / usable runners.

    Start-up cost is counted: once per chain start and again at every change of target along
    the chain (a new job), and once per target for the work bound.
    """
    chain = [0.0] * len(units)
    best = 0.0
    work: dict[str, float] = {}
    for u in units:
        o = limits[u.target].overhead
        start = o
        for d in u.deps:
            du = units[d]
            c = chain[d] + (0.0 if du.target == u.target else o)
            if c > start:
                start = c
        chain[u.index] = start + u.est
        best = max(best, chain[u.index])
        work[u.target] = work.get(u.target, 0.0) + u.est
    for target, total in work.items():
        lim = limits[target]
        best = max(best, total / max(1, min(lim.slots, MATRIX_LIMIT)) + lim.overhead)
    return best


def best_layout(units: list[Unit], limits: dict[str, TargetLimits], target_order: list[str]) -> Layout:
    """The soonest of a few layouts: fewest waves, and heavy same-target groups cut.

    In every layout with more than one wave, free units (no dependency either way) are
    spread over the waves so that each target's work fills the time the waves take anyway.
    A cut that would need more than ``MAX_CUT_WAVES`` waves is not tried.
    """
    has_dependents = [False] * len(units)
    for u in units:
        for d in u.deps:
            has_dependents[d] = True
    free = [u.index for u in units if not u.deps and not has_dependents[u.index]]
    best: Layout | None = None
    best_state: list[tuple[int, str]] = []
    tried: list[frozenset[tuple[int, int]]] = []
    for variant in ("fan-out", "fan-in", "none"):
        assign_waves(units)
        cuts = frozenset() if variant == "none" else frozenset(
            _heavy_cuts(units, limits, fan_in=variant == "fan-in"))
        if cuts in tried or (variant != "none" and not cuts):
            continue
        tried.append(cuts)
        assign_waves(units, cuts)
        if cuts and max(u.wave for u in units) > MAX_CUT_WAVES:
            continue
        spread_free_units(units, free, limits)
        if best is not None and _span_bound(units, limits) > best.makespan + 1e-9:
            continue  # cannot beat what we have: skip packing it
        alt = layout(units, limits, target_order)
        if best is None or alt.makespan < best.makespan - 1e-9 or (
                alt.makespan <= best.makespan + 1e-9 and alt.waves < best.waves):
            best, best_state = alt, [(u.wave, u.shard) for u in units]
    for u, (w, s) in zip(units, best_state, strict=True):
        u.wave, u.shard = w, s
    return best or Layout()


def _span_bound(units: list[Unit], limits: dict[str, TargetLimits]) -> float:
    """No packing of these waves finishes sooner: per wave, the slowest target's bound."""
    work: dict[tuple[int, str], float] = {}
    biggest: dict[tuple[int, str], float] = {}
    for members in _components(units).values():
        u = units[members[0]]
        key = (u.wave, u.target)
        weight = sum(units[i].est for i in members)
        work[key] = work.get(key, 0.0) + weight
        biggest[key] = max(biggest.get(key, 0.0), weight)
    span: dict[int, float] = {}
    for (w, t), total in work.items():
        lim = limits[t]
        bound = lim.overhead + max(total / max(1, min(lim.slots, MATRIX_LIMIT)), biggest[(w, t)])
        span[w] = max(span.get(w, 0.0), bound)
    return sum(span.values())


def spread_free_units(units: list[Unit], free: list[int], limits: dict[str, TargetLimits]) -> None:
    """Put units without dependencies into the waves where their target has room.

    Waves run one after another, so a plan takes the sum over waves of the slowest shard.
    The units tied by dependencies fix a least length per wave; the free units then fill
    each target up to those lengths, and what no wave has room for stretches the wave with
    the most room, so the sum stays near the busiest target's work over its runners.
    """
    free_set = set(free)
    nwaves = max((u.wave for u in units if u.index not in free_set), default=1)
    if nwaves <= 1 or not free:
        for i in free:
            units[i].wave = 1
        return
    fixed: dict[tuple[str, int], float] = {}
    longest: dict[tuple[str, int], float] = {}
    total: dict[str, float] = {}
    for u in units:
        total[u.target] = total.get(u.target, 0.0) + u.est
        if u.index in free_set:
            continue
        key = (u.target, u.wave)
        fixed[key] = fixed.get(key, 0.0) + u.est
        longest[key] = max(longest.get(key, 0.0), u.est)
    slots = {t: max(1, min(lim.slots, MATRIX_LIMIT)) for t, lim in limits.items()}
    length = [0.0] * (nwaves + 1)
    for (t, w), work in fixed.items():
        length[w] = max(length[w], work / slots[t], longest[(t, w)])
    need = max((total[t] / slots[t] for t in total), default=0.0)
    short = need - sum(length[1:])
    if short > 0:
        widest = max(range(1, nwaves + 1), key=lambda w: (length[w], -w))
        length[widest] += short
    by_target: dict[str, list[int]] = {}
    for i in free:
        by_target.setdefault(units[i].target, []).append(i)
    for t, members in by_target.items():
        room = [slots[t] * length[w] - fixed.get((t, w), 0.0) for w in range(nwaves + 1)]
        room[0] = float("-inf")
        for i in sorted(members, key=lambda i: (-units[i].est, i)):
            e = units[i].est
            w, top = 1, (False, float("-inf"))
            for cand in range(1, nwaves + 1):
                rank = (length[cand] >= e, room[cand])
                if rank > top:
                    w, top = cand, rank
            units[i].wave = w
            room[w] -= e


def _heavy_cuts(units: list[Unit], limits: dict[str, TargetLimits], *, fan_in: bool) -> set[tuple[int, int]]:
    """Same-target edges to cut out of groups so heavy that they bound their target.

    A group (units tied by same-target dependencies in one wave) heavier than its target's
    even share, with slots to spare, is cut at the edges leaving a fan-out (a unit with two
    or more dependents in the group), and with ``fan_in`` also at the edges entering a
    fan-in: chains stay whole, and the units in between spread over the shards of the next
    wave.
    """
    groups = _components(units)
    work: dict[str, float] = {}
    for u in units:
        work[u.target] = work.get(u.target, 0.0) + u.est
    cuts: set[tuple[int, int]] = set()
    for members in groups.values():
        if len(members) < 3:
            continue
        first = units[members[0]]
        lim = limits[first.target]
        if lim.slots < 2:
            continue
        total = sum(units[i].est for i in members)
        share = work[first.target] / min(lim.slots, MATRIX_LIMIT)
        if total <= max(share, lim.overhead):
            continue
        member_set = set(members)
        fanout: dict[int, int] = {}
        for i in members:
            for d in units[i].deps:
                if d in member_set:
                    fanout[d] = fanout.get(d, 0) + 1
        for i in members:
            inner = [d for d in units[i].deps if d in member_set]
            for d in inner:
                if fanout[d] >= 2 or (fan_in and len(inner) >= 2):
                    cuts.add((d, i))
    return cuts
