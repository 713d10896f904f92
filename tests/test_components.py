"""Connected components: union-find, Beam union-find and large-star/small-star agree."""
from __future__ import annotations

import json
import pathlib
import random

import apache_beam as beam
import pytest

from dedup_helpers import load_minhash_eval
from pipelines.dedup.components import DistributedComponents, union_find_components
from pipelines.stages.minhash_graph import as_ints, compact_ids, connected_labels


def run_beam(edges, transform, workdir: pathlib.Path):
    """Run a components transform; return (labels dict, stats dict or None)."""
    workdir.mkdir(parents=True, exist_ok=True)
    labels_path, stats_path = workdir / "labels.json", workdir / "stats.json"
    with beam.Pipeline() as p:
        result = p | beam.Create(edges) | transform
        labels = result["labels"] if isinstance(result, dict) else result
        _ = (labels | "L" >> beam.combiners.ToList()
             | "WL" >> beam.Map(lambda ls: labels_path.write_text(json.dumps(sorted(ls)))))
        if isinstance(result, dict):
            _ = (result["stats"] | "S" >> beam.combiners.ToDict()
                 | "WS" >> beam.Map(lambda s: stats_path.write_text(json.dumps(s))))
    labels = dict(json.loads(labels_path.read_text())) if labels_path.exists() else {}
    stats = json.loads(stats_path.read_text()) if stats_path.exists() else None
    return labels, stats


def test_union_find_labels_with_component_minimum():
    labels = union_find_components([("c", "b"), ("b", "a"), ("x", "z"), ("z", "y")])
    assert labels == {"a": "a", "b": "a", "c": "a", "x": "x", "y": "x", "z": "x"}


def random_graph(seed: int, nodes: int = 300, edges: int = 220):
    rng = random.Random(seed)
    ids = [f"{rng.getrandbits(64):016x}" for _ in range(nodes)]
    graph = [(rng.choice(ids), rng.choice(ids)) for _ in range(edges)]
    # Long paths in random id order are the slow case for star contraction.
    path = [f"p{rng.getrandbits(40):010x}" for _ in range(40)]
    return graph + list(zip(path, path[1:]))


def test_unconverged_rounds_never_merge_components(tmp_path):
    rng = random.Random(2)
    path = [f"q{rng.getrandbits(40):010x}" for _ in range(64)]
    edges = list(zip(path, path[1:])) + [("zz1", "zz2")]
    labels, stats = run_beam(edges, DistributedComponents(max_rounds=1), tmp_path)
    assert stats["converged"] is False
    truth = union_find_components(edges)
    # Each label is a member of the node's true component (a split, never a merge).
    assert all(truth[labels[n]] == truth[n] for n in labels)


def test_same_clusters_on_real_near_duplicates(shared_data, tmp_path):
    mod = load_minhash_eval()
    docs, _ = mod.make_labelled_corpus(mod.extract_pages(16, warc_dir=shared_data / "warc"), seed=5, dup_share=0.9)
    # Loose bands (many candidate edges) so the graph has non-trivial components.
    from pipelines.stages.minhash import MinHashConfig, MinHasher, band_keys

    config = MinHashConfig(num_perm=100, bands=20, rows=5)
    sig, _ = MinHasher(config).signatures([d.text for d in docs])
    keys = band_keys(sig, config.bands, config.rows)
    buckets = {}
    for d, row in zip(docs, keys.tolist()):
        for b, v in enumerate(row):
            buckets.setdefault((b, v), []).append(d.id)
    edges = sorted({(m, min(ms)) for ms in buckets.values() for m in ms if m != min(ms)})
    assert len(edges) > 10
    real_components = union_find_components(edges)
    assert max(list(real_components.values()).count(c) for c in set(real_components.values())) >= 3
    # Plus a random graph and a long path (disjoint ids) to exercise many rounds.
    edges += random_graph(7)
    dist, stats = run_beam(edges, DistributedComponents(max_rounds=8), tmp_path / "d")
    assert dist == union_find_components(edges) == array_components(edges)
    assert stats["converged"] is True
    assert stats["rounds_changes"][0] > 0 and stats["rounds_changes"][-1] == 0


def array_components(edges) -> dict:
    """The job's single-worker path: compact ids, SciPy components, smallest id per component."""
    names = {}
    ends = []
    for u, v in edges:
        for x in (u, v):
            names[as_ints(*compact_ids([x]))[0]] = x
        ends.append((u, v))
    (uh, ul), (vh, vl) = compact_ids([u for u, _ in ends]), compact_ids([v for _, v in ends])
    nh, nl, comp = connected_labels(uh, ul, vh, vl)
    nodes = [names[i] for i in as_ints(nh, nl)]
    smallest = {}
    for node, c in zip(nodes, comp.tolist()):
        smallest[c] = min(smallest.get(c, node), node)
    return {node: smallest[c] for node, c in zip(nodes, comp.tolist())}


def test_max_rounds_must_be_positive():
    with pytest.raises(ValueError, match="max_rounds"):
        DistributedComponents(max_rounds=0)


def test_star_edges_of_a_band_matrix_equal_those_of_its_entries():
    """``band_matrix_star_edges`` (sorted band by band) gives ``bucket_star_edges``' edges
    and counts, also with shared bands and an id read twice."""
    import numpy as np

    from pipelines.stages.minhash_graph import band_matrix_star_edges, bucket_star_edges

    rng = np.random.default_rng(3)
    n, bands = 2000, 9
    matrix = rng.integers(0, 50, (n, bands), dtype=np.uint64)  # few keys: large buckets
    matrix[100:200] = matrix[:100]
    hi = rng.integers(0, 2**63, n, dtype=np.uint64)
    lo = rng.integers(0, 2**63, n, dtype=np.uint64)
    hi[10:20], lo[10:20] = hi[:10], lo[:10]
    fast = band_matrix_star_edges(matrix, hi, lo)
    slow = bucket_star_edges(np.tile(np.arange(bands, dtype=np.uint16), n), matrix.ravel(),
                             np.repeat(hi, bands), np.repeat(lo, bands))
    assert fast["candidate_edges"] > 0
    for key, value in slow.items():
        assert np.array_equal(fast[key], value), key
