"""What each member will buy: buy-again, then item co-occurrence, then popularity.

* buy-again: the items the member bought, by the number of days they bought them, then recency;
* co-occurrence: items bought by the members who bought the member's items, scored by the cosine
  of the items' buyer sets (item-based collaborative filtering) summed over the member's items;
* popularity: the items most members bought, to fill the list (and for members with no history).

The same functions run on the database's rows (a run stores each item's top neighbours and the
popular items; a member's list is built at request time from their own rows) and on the evaluation
data set. A heavier model (ALS) would have to beat these with a confidence interval to be added
(docs/predictive.md has the measurement).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

BLOCK = 2048  # items per block of the co-occurrence product (a dense block of BLOCK x items)


@dataclass(frozen=True)
class Interactions:
    """Members x items: the number of days each member bought each item, and the last such day."""

    members: NDArray[np.int64]
    items: NDArray[np.object_]
    days: sparse.csr_matrix
    last_day: sparse.csr_matrix

    @classmethod
    def of(
        cls, member: NDArray[np.int64], item: NDArray[np.object_], days: NDArray[np.int64], last_day: NDArray[np.int64]
    ) -> Interactions:
        members, member_index = np.unique(member, return_inverse=True)
        items, item_index = np.unique(item.astype(str), return_inverse=True)
        shape = (members.size, items.size)
        counts = sparse.csr_matrix((days.astype(np.float64), (member_index, item_index)), shape=shape)
        last = sparse.csr_matrix((last_day.astype(np.float64) + 1, (member_index, item_index)), shape=shape)
        return cls(members, items.astype(object), counts, last)

    def buyers(self) -> NDArray[np.int64]:
        return np.asarray((self.days > 0).sum(axis=0)).ravel().astype(np.int64)


def popular(interactions: Interactions, top: int = 100) -> list[tuple[str, int]]:
    """The items with the most buyers (ties by name)."""
    buyers = interactions.buyers()
    order = np.lexsort((interactions.items.astype(str), -buyers))[:top]
    return [(str(interactions.items[i]), int(buyers[i])) for i in order if buyers[i] > 0]


def neighbours(interactions: Interactions, top: int = 20, min_buyers: int = 2) -> dict[str, list[tuple[str, float]]]:
    """For each item with at least ``min_buyers`` buyers, its ``top`` most similar items (cosine of
    the buyer sets, at least two common buyers), computed a block of items at a time and kept
    sparse: memory follows the pairs of items actually bought together, not items squared."""
    bought = (interactions.days > 0).astype(np.float32).tocsc()
    counts = np.asarray(bought.sum(axis=0)).ravel()
    keep = np.flatnonzero(counts >= min_buyers)
    if keep.size == 0:
        return {}
    matrix = bought[:, keep].tocsc()
    norms = np.sqrt(counts[keep]).astype(np.float32)
    transposed = matrix.T.tocsr()
    names = interactions.items[keep]
    result: dict[str, list[tuple[str, float]]] = {}
    for start in range(0, keep.size, BLOCK):
        stop = min(start + BLOCK, keep.size)
        common = sparse.csr_matrix(transposed[start:stop] @ matrix)
        rows = np.repeat(np.arange(stop - start), np.diff(common.indptr))
        columns = common.indices
        # At least two common buyers, and not the item itself.
        wanted = (common.data >= 2) & (columns != rows + start)
        rows, columns = rows[wanted], columns[wanted]
        scores = common.data[wanted] / norms[rows + start] / norms[columns]
        # Per row, best score first (ties by column): one lexsort for the whole block.
        order = np.lexsort((columns, -scores, rows))
        rows, columns, scores = rows[order], columns[order], scores[order]
        firsts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]]) if rows.size else np.array([], dtype=np.intp)
        ends = np.r_[firsts[1:], rows.size]
        for first, end in zip(firsts.tolist(), ends.tolist(), strict=True):
            last = min(end, first + top)
            result[str(names[rows[first] + start])] = [
                (str(names[c]), float(v)) for c, v in zip(columns[first:last], scores[first:last], strict=True)
            ]
    return result


@dataclass(frozen=True)
class Recommendation:
    item: str
    source: str  # buy_again, co_occurrence or popular
    score: float
    because: str = ""


def recommend(
    bought: Mapping[str, tuple[int, int]],
    item_neighbours: Mapping[str, Sequence[tuple[str, float]]],
    popular_items: Sequence[tuple[str, int]],
    limit: int = 10,
    strategy: str = "hybrid",
) -> list[Recommendation]:
    """A member's list. ``bought``: item -> (days bought, last day). Strategies: ``hybrid``
    (buy-again, then co-occurrence, then popularity), ``buy_again`` and ``popular`` (the baselines,
    each filled with popularity), ``discover`` (only items the member never bought: co-occurrence,
    then popularity) and its baseline ``popular_new`` (the most popular items the member never bought)."""
    out: list[Recommendation] = []
    taken: set[str] = set()

    def add(item: str, source: str, score: float, because: str = "") -> None:
        if len(out) < limit and item not in taken:
            taken.add(item)
            out.append(Recommendation(item, source, score, because))

    if strategy in ("hybrid", "buy_again"):
        for item, (days, _last) in sorted(bought.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0])):
            add(item, "buy_again", float(days), f"bought on {days} day(s)")
    if strategy in ("discover", "popular_new"):
        taken.update(bought)
    if strategy in ("hybrid", "discover"):
        scores: dict[str, float] = {}
        reason: dict[str, tuple[float, str]] = {}
        for item in bought:
            for other, score in item_neighbours.get(item, ()):
                scores[other] = scores.get(other, 0.0) + score
                if score > reason.get(other, (0.0, ""))[0]:
                    reason[other] = (score, item)
        for other, score in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0])):
            add(other, "co_occurrence", score, f"bought by members who bought {reason[other][1]}")
    for item, buyers in popular_items:
        add(item, "popular", float(buyers), f"bought by {buyers} members")
    return out


def member_history(interactions: Interactions, row: int) -> dict[str, tuple[int, int]]:
    """Row ``row`` of the interactions as ``recommend`` takes it: item -> (days, last day)."""
    start, end = interactions.days.indptr[row], interactions.days.indptr[row + 1]
    columns = interactions.days.indices[start:end]
    days = interactions.days.data[start:end]
    last = interactions.last_day[row].toarray().ravel()[columns] - 1
    return {str(interactions.items[c]): (int(d), int(t)) for c, d, t in zip(columns, days, last, strict=True)}


def factorize(values: NDArray[np.object_]) -> tuple[NDArray[np.object_], NDArray[np.int64]]:
    """The distinct values (sorted) and each value's index among them: a dict pass, far quicker
    than sorting a million Python strings."""
    codes: dict[str, int] = {}
    index = np.fromiter((codes.setdefault(str(v), len(codes)) for v in values), dtype=np.int64, count=len(values))
    names = np.array(list(codes), dtype=object)
    order = np.argsort(names.astype(str))
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return names[order], rank[index]


def aggregate(member: NDArray[np.int64], item: NDArray[np.object_], day: NDArray[np.int64]) -> Interactions:
    """Interactions from raw (member, item, day) rows: distinct days per pair and the last one."""
    items, item_index = factorize(item)
    members, member_index = np.unique(member, return_inverse=True)
    first_day = int(day.min()) if day.size else 0
    span = int(day.max()) - first_day + 1 if day.size else 1
    # One integer per (member, item, day): a 1-D unique is far quicker than a unique of rows.
    key = (member_index.astype(np.int64) * items.size + item_index) * span + (day - first_day)
    distinct = np.unique(key)
    pair, distinct_day = np.divmod(distinct, span)
    pairs, pair_index = np.unique(pair, return_inverse=True)
    days = np.bincount(pair_index.ravel())
    last = np.zeros(pairs.size, dtype=np.int64)
    np.maximum.at(last, pair_index.ravel(), distinct_day + first_day)
    member_of, item_of = np.divmod(pairs, items.size)
    return Interactions.of(members[member_of], items[item_of], days, last)


STRATEGIES = ("hybrid", "buy_again", "popular", "discover", "popular_new")


def holdout_hit_rates(
    member: NDArray[np.int64],
    item: NDArray[np.object_],
    day: NDArray[np.int64],
    split_day: int,
    k: int = 10,
    resamples: int = 200,
    seed: int = 14,
    min_buyers: int = 2,
) -> dict[str, object]:
    """Hit rate and precision at ``k`` of each strategy for the members who bought both before
    ``split_day`` (training) and from it on (test), with percentile bootstrap intervals over
    members, and paired differences hybrid - buy_again, hybrid - popular, discover - popular_new.
    ``discover`` and ``popular_new`` are scored on the items a member had never bought."""
    from backend.predictive.evaluation import bootstrap

    train = day < split_day
    interactions = aggregate(member[train], item[train], day[train])
    item_neighbours = neighbours(interactions, min_buyers=min_buyers)
    top = popular(interactions, top=max(200, 5 * k))
    test_sets: dict[int, set[str]] = {}
    for m, i in zip(member[~train], item[~train].astype(str), strict=True):
        test_sets.setdefault(int(m), set()).add(i)
    rows = {int(m): r for r, m in enumerate(interactions.members)}
    evaluated = sorted(m for m in test_sets if m in rows)
    hits = {s: np.zeros(len(evaluated)) for s in STRATEGIES}
    precision = {s: np.zeros(len(evaluated)) for s in STRATEGIES}
    for n, m in enumerate(evaluated):
        history = member_history(interactions, rows[m])
        relevant_all = test_sets[m]
        relevant_new = relevant_all - set(history)
        for strategy in STRATEGIES:
            relevant = relevant_new if strategy in ("discover", "popular_new") else relevant_all
            listed = [r.item for r in recommend(history, item_neighbours, top, k, strategy)]
            found = sum(1 for i in listed if i in relevant)
            hits[strategy][n] = 1.0 if found else 0.0
            precision[strategy][n] = found / k
    count = len(evaluated)

    def mean_of(values: NDArray[np.float64]) -> object:
        return bootstrap(lambda idx: float(values[idx].mean()), count, resamples, seed).to_json()

    def gap(a: NDArray[np.float64], b: NDArray[np.float64]) -> object:
        return bootstrap(lambda idx: float(a[idx].mean() - b[idx].mean()), count, resamples, seed).to_json()

    return {
        "members": count,
        "items": int(interactions.items.size),
        "k": k,
        "resamples": resamples,
        "hit_rate": {s: mean_of(hits[s]) for s in STRATEGIES},
        "precision": {s: mean_of(precision[s]) for s in STRATEGIES},
        "differences": {
            "hit_rate": {
                "hybrid-buy_again": gap(hits["hybrid"], hits["buy_again"]),
                "hybrid-popular": gap(hits["hybrid"], hits["popular"]),
                "discover-popular_new": gap(hits["discover"], hits["popular_new"]),
            },
            "precision": {
                "hybrid-buy_again": gap(precision["hybrid"], precision["buy_again"]),
                "hybrid-popular": gap(precision["hybrid"], precision["popular"]),
                "discover-popular_new": gap(precision["discover"], precision["popular_new"]),
            },
        },
    }
