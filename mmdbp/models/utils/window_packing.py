"""GreenMIM's optimal grouping: pack windows of unequal size into groups of equal size.

`Green Hierarchical Vision Transformer for Masked Image Modeling
<https://arxiv.org/abs/2205.13515>`_ (Huang et al., NeurIPS 2022), Sec. 3.2.

After masking, window ``i`` of a Swin stage holds ``n_i`` visible tokens (``0 <= n_i <= M^2``
for window size M). Group Window Attention packs whole windows into ``G`` groups of one size
``S`` (padding the rest) and runs one batched masked attention over ``(G, S, S)``. The packing
follows the paper's dynamic programme:

1. *Fullest subset* (one 0/1 knapsack, weight = value = ``n_i``, capacity ``S``): pick the
   subset of the remaining windows whose total is as large as possible without exceeding ``S``.
2. *Repeated knapsack*: make that subset a group, remove it, repeat until no window is left.
3. *Group size*: do 1-2 for every candidate ``S`` (from the largest window to ``M^2``, plus the
   single group holding everything) and keep the one with the lowest cost

   .. math:: \\mathrm{cost}(S) = G(S)\\,S^2 + \\lambda\\,G(S)\\,S,

   attention work ``S^2`` per group plus ``lambda`` per padded slot for the linear work on the
   ``G S`` slots (gathering q, k, v into groups and scattering the output back).

This module is pure Python on window sizes (no tensors): it runs once per stage and batch on
the host, and the index tensors built from its result are shared by all blocks of the stage.

Implementation notes: the knapsack is a subset-sum over a bitset (a Python ``int`` whose bit
``c`` says "total ``c`` is reachable"); windows of equal size are interchangeable, so they are
one bounded item split into power-of-two bundles (``O(log n)`` 0/1 items). An optimal group
composition is reused as long as enough windows of its sizes remain: the remaining multiset
still contains it, and removing windows cannot raise the optimum, so every repetition is again
a fullest subset. Among equally full subsets the one with the largest windows is taken (they
are the hardest to place later).
"""
from collections import Counter
from typing import Dict, Iterable, List, NamedTuple, Optional, Sequence

__all__ = [
    'fullest_subset', 'pack_windows', 'grouping_cost', 'candidate_group_sizes',
    'WindowPacking', 'optimal_window_packing'
]


def _fullest_multiset(count_of_size: Dict[int, int], capacity: int) -> Dict[int, int]:
    """Bounded subset-sum: how many windows of each size form the fullest group.

    Args:
        count_of_size: ``{window size: number of such windows}`` (sizes >= 1).
        capacity: group size S.

    Returns:
        ``{size: how many to take}`` maximising ``sum(size * take) <= capacity``.
    """
    # 0/1 items: power-of-two bundles of equal-size windows, larger sizes first.
    items = []  # (total weight, size, copies)
    for size in sorted(count_of_size, reverse=True):
        avail = min(count_of_size[size], capacity // size)
        bundle = 1
        while avail > 0:
            take = min(bundle, avail)
            items.append((size * take, size, take))
            avail -= take
            bundle *= 2
    full = (1 << (capacity + 1)) - 1
    reach = [1]  # reach[i]: bitset of totals reachable with the first i items
    for weight, _, _ in items:
        reach.append((reach[-1] | (reach[-1] << weight)) & full)
    total = reach[-1].bit_length() - 1
    # Walk back from the last item: skip an item whenever the total is reachable without it,
    # so the later (smaller) items are dropped first and the larger windows are kept.
    taken: Dict[int, int] = Counter()
    for i in range(len(items) - 1, -1, -1):
        if (reach[i] >> total) & 1:
            continue
        weight, size, copies = items[i]
        taken[size] += copies
        total -= weight
    assert total == 0
    return dict(taken)


def fullest_subset(sizes: Sequence[int], capacity: int) -> List[int]:
    """One knapsack step: indices of a subset of ``sizes`` with the largest total <= capacity.

    Args:
        sizes: number of visible tokens of each window (>= 0).
        capacity: group size S (>= 1).

    Returns:
        Increasing indices into ``sizes``. Windows larger than ``capacity`` and empty windows
        are never chosen.
    """
    if capacity < 1:
        raise ValueError(f'capacity must be >= 1, got {capacity}.')
    pools: Dict[int, List[int]] = {}
    for i, n in enumerate(sizes):
        if 0 < n <= capacity:
            pools.setdefault(n, []).append(i)
    taken = _fullest_multiset({n: len(p) for n, p in pools.items()}, capacity)
    return sorted(i for n, k in taken.items() for i in pools[n][:k])


def pack_windows(sizes: Sequence[int], group_size: int) -> List[List[int]]:
    """Repeated knapsack: split all non-empty windows into groups of at most ``group_size``.

    Each group is a fullest subset (:func:`fullest_subset`) of the windows not yet grouped;
    groups are returned in the order they are formed.

    Args:
        sizes: visible tokens per window.
        group_size: S, at least ``max(sizes)``.

    Returns:
        One list of window indices per group; every window with ``size > 0`` is in exactly one.
    """
    if sizes and max(sizes) > group_size:
        raise ValueError(f'group_size {group_size} is smaller than the largest window '
                         f'({max(sizes)} tokens): a window cannot be split across groups.')
    pools: Dict[int, List[int]] = {}
    for i, n in enumerate(sizes):
        if n > 0:
            pools.setdefault(n, []).append(i)
    for pool in pools.values():
        pool.reverse()  # pop() then hands out the lowest indices first
    groups: List[List[int]] = []
    while pools:
        taken = _fullest_multiset({n: len(p) for n, p in pools.items()}, group_size)
        repeats = min(len(pools[n]) // k for n, k in taken.items())
        for _ in range(repeats):
            groups.append(sorted(pools[n].pop() for n, k in taken.items() for _ in range(k)))
        for n in [n for n, p in pools.items() if not p]:
            del pools[n]
    return groups


def grouping_cost(num_groups: int, group_size: int, linear_cost: float) -> float:
    """Cost model of one Group Window Attention: ``G S^2 + linear_cost * G S``."""
    return num_groups * group_size * (group_size + linear_cost)


def candidate_group_sizes(sizes: Sequence[int], window_area: int) -> List[int]:
    """Group sizes worth trying: every S from the largest window to the window area, and the
    total number of tokens (everything in one masked group, GreenMIM's code path for small
    stages)."""
    total = sum(sizes)
    if total == 0:
        return []
    largest = max(sizes)
    upper = min(max(largest, window_area), total)
    return sorted(set(range(largest, upper + 1)) | {total})


class WindowPacking(NamedTuple):
    """Chosen grouping of one stage (one shift parity).

    Attributes:
        group_size: S.
        groups: window indices of each group (see :func:`pack_windows`).
        cost: :func:`grouping_cost` of this choice.
        costs: cost of every candidate size packed, ``{S: cost}``; sizes whose lower bound
            ``grouping_cost(ceil(total / S), S)`` already reaches the best cost are skipped.
    """
    group_size: int
    groups: List[List[int]]
    cost: float
    costs: Dict[int, float]

    @property
    def num_groups(self) -> int:
        return len(self.groups)


def optimal_window_packing(sizes: Sequence[int], window_area: int,
                           linear_cost: float = 0.,
                           candidates: Optional[Iterable[int]] = None) -> WindowPacking:
    """Pack windows for every candidate group size and keep the cheapest packing.

    Args:
        sizes: visible tokens per window (zeros allowed; those windows are skipped).
        window_area: ``M^2``, the largest useful group size besides "one group".
        linear_cost: lambda of :func:`grouping_cost`. Defaults to 0 (attention cost only).
        candidates: group sizes to try; defaults to :func:`candidate_group_sizes`.

    Returns:
        :class:`WindowPacking` of the cheapest candidate (ties: the smaller size). Candidates are
        visited by increasing lower bound of their cost and the search stops when that bound
        reaches the best cost found, which skips most sizes without changing the result.
    """
    sizes = list(sizes)
    if candidates is None:
        candidates = candidate_group_sizes(sizes, window_area)
    total = sum(sizes)
    # Any packing into groups of S needs at least ceil(total / S) groups: visit the sizes by
    # this lower bound of their cost and stop once it reaches the best cost found (exact).
    def lower_bound(size):
        return grouping_cost(-(-total // size), size, linear_cost)

    best: Optional[WindowPacking] = None
    costs: Dict[int, float] = {}
    for size in sorted(set(candidates), key=lambda s: (lower_bound(s), s)):
        if best is not None and lower_bound(size) > best.cost:
            break
        if best is not None and lower_bound(size) == best.cost and size > best.group_size:
            continue  # at best a tie, and ties go to the smaller size
        if size >= total:  # one group holds everything; no packing needed
            groups = [[i for i, n in enumerate(sizes) if n > 0]]
        else:
            groups = pack_windows(sizes, size)
        cost = grouping_cost(len(groups), size, linear_cost)
        costs[size] = cost
        if best is None or (cost, size) < (best.cost, best.group_size):
            best = WindowPacking(size, groups, cost, {})
    if best is None:
        raise ValueError('optimal_window_packing needs at least one non-empty window.')
    return best._replace(costs=costs)
