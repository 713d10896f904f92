"""Connected components of the duplicate-candidate graph, two ways with one answer.

Both label every node with the smallest node id of its component (ids are compared as
strings, like document ids everywhere else), so results are directly comparable.

``union_find_components``: single node, the reference. The dedup job's single-worker path
runs on arrays instead (SciPy's connected components: ``minhash_graph.connected_labels``,
wired by ``minhash.LocalClusters``); the tests check all three agree.

``DistributedComponents``: the large-star / small-star algorithm of Kiveris et al.,
"Connected Components in MapReduce and Beyond" (SoCC 2014), as Beam rounds. Each step
groups edges by one endpoint and streams over the neighbours twice (once for the min,
once to emit), so no worker holds more than one node's neighbour iterable, and the
runner may page that from disk.

Why rounds are unrolled in one pipeline: the dedup job is one pipeline graph (the stage
interface passes PCollections between stages), so we cannot stop between rounds and ask
"converged?". We unroll ``max_rounds`` rounds (default 12; large-star/small-star needs
O(log^2 n) rounds, in practice < 10 even for millions of nodes) and count the changes each
round makes. Once a round makes no change the graph is a set of stars centred on each
component's minimum, and every later round is the identity, so extra rounds cost time but
never change the result. The per-round change counts go to the stats (``rounds_changes``)
and a Beam counter; ``converged`` is false if the last round still changed something. An
unconverged result is still safe: every label is a node of the same component, so a
component may be split in two (fewer duplicates removed), never merged with another.
"""
from __future__ import annotations

from typing import Iterable, Iterator

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipelines.beam.transforms import SplitByKind

DEFAULT_MAX_ROUNDS = 12


# ---------------------------------------------------------------- single node reference
def union_find_components(edges: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Map every node that appears in an edge to the smallest id of its component."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    for u, v in edges:
        parent.setdefault(u, u)
        parent.setdefault(v, v)
        ru, rv = find(u), find(v)
        if ru != rv:
            # Union by smaller id keeps the root equal to the component minimum.
            if ru < rv:
                parent[rv] = ru
            else:
                parent[ru] = rv
    return {node: find(node) for node in parent}


# ------------------------------------------------------------------- distributed version
def _ordered(u: str, v: str) -> tuple[str, str]:
    """Edges are stored as (larger, smaller)."""
    return (u, v) if u > v else (v, u)


class _StarStep(beam.DoFn):
    """One star step of a round; counts the nodes where it changed something."""

    step = ""

    def __init__(self, round_no: int):
        self.changes = Metrics.counter("minhash.components", f"round_{round_no}_{self.step}_changes")


class _LargeStar(_StarStep):
    """At node u with neighbours N: link every neighbour larger than u to min(N + u)."""

    step = "large_star"

    def process(self, element) -> Iterator:
        u, neighbours = element
        m = u
        has_larger = False
        for v in neighbours:
            if v < m:
                m = v
            if v > u:
                has_larger = True
        changed = has_larger and m < u
        for v in neighbours:
            if v > u:
                yield EDGE, (v, m)
        if changed:
            self.changes.inc()
            yield CHANGED, 1


class _SmallStar(_StarStep):
    """At node u with smaller neighbours N: link u and all of N to min(N)."""

    step = "small_star"

    def process(self, element) -> Iterator:
        u, smaller = element
        m = None
        distinct = False
        for v in smaller:
            if m is not None and v != m:
                distinct = True
            if m is None or v < m:
                m = v
        if m is None:
            return
        yield EDGE, (u, m)
        for v in smaller:
            if v != m:
                yield EDGE, (v, m)
        if distinct:
            self.changes.inc()
            yield CHANGED, 1


# The star steps emit (kind, value) pairs split by SplitByKind, not tagged outputs (Dask
# limit 1 in pipelines.beam.runner).
EDGE, CHANGED = "edge", "changed"


def _both_directions(edge):
    u, v = edge
    yield (u, v)
    yield (v, u)


class DistributedComponents(beam.PTransform):
    """PCollection[(u, v)] -> PCollection[(node, component_min)], plus round stats.

    ``expand`` returns ``{"labels": ..., "stats": PCollection[(key, value)]}`` where the
    stats hold ``rounds``, ``rounds_changes`` (list) and ``converged``.
    """

    def __init__(self, max_rounds: int = DEFAULT_MAX_ROUNDS):
        super().__init__()
        if max_rounds < 1:
            raise ValueError("--max_rounds must be >= 1")
        self.max_rounds = max_rounds

    def expand(self, edges):
        current = (
            edges
            | "Order" >> beam.Map(lambda e: _ordered(*e))
            | "NoSelfLoops" >> beam.Filter(lambda e: e[0] != e[1])
            | "Dedup0" >> beam.Distinct()
        )
        change_counts = []
        for r in range(1, self.max_rounds + 1):
            # Two shuffles per round and no Distinct in between: the steps are insensitive
            # to duplicate edges (min and "two distinct smaller neighbours" ignore them) and
            # never multiply them, so skipping the extra shuffles is the cheaper choice.
            large = (
                current
                | f"R{r}Both" >> beam.FlatMap(_both_directions)
                | f"R{r}GroupLarge" >> beam.GroupByKey()
                | f"R{r}LargeStar" >> beam.ParDo(_LargeStar(r))
                | f"R{r}LargeOut" >> SplitByKind([EDGE, CHANGED])
            )
            small = (
                large[EDGE]
                | f"R{r}OrderSmall" >> beam.Map(lambda e: _ordered(*e))
                | f"R{r}GroupSmall" >> beam.GroupByKey()
                | f"R{r}SmallStar" >> beam.ParDo(_SmallStar(r))
                | f"R{r}SmallOut" >> SplitByKind([EDGE, CHANGED])
            )
            current = small[EDGE]
            change_counts.append(
                (large[CHANGED], small[CHANGED])
                | f"R{r}Changes" >> beam.Flatten()
                | f"R{r}Tag" >> beam.Map(lambda _, r=r: (r, 1))
            )
        current = current | "DedupFinal" >> beam.Distinct()
        # After convergence every edge is (leaf, centre) with centre = component minimum.
        leaf_labels = current
        centre_labels = (
            current
            | "Centres" >> beam.Map(lambda e: (e[1], e[1]))
            | "DedupCentres" >> beam.Distinct()
        )
        labels = (leaf_labels, centre_labels) | "AllLabels" >> beam.Flatten()
        max_rounds = self.max_rounds

        def summarize(per_round):
            counted = dict(per_round)
            changes = [counted.get(r, 0) for r in range(1, max_rounds + 1)]
            return [
                ("rounds", max_rounds),
                ("rounds_changes", changes),
                ("converged", changes[-1] == 0),
            ]

        stats = (
            change_counts
            | "AllRounds" >> beam.Flatten()
            | "SumPerRound" >> beam.CombinePerKey(sum)
            | "CollectRounds" >> beam.combiners.ToList()  # max_rounds small pairs: bounded
            | "Summarize" >> beam.FlatMap(summarize)
        )
        return {"labels": labels, "stats": stats}
