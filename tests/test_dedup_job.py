"""The dedup job end to end on labelled near-duplicates of real pages."""
from __future__ import annotations

import argparse
import json
import pathlib

import apache_beam as beam
import pytest

from conftest import tree_digest
from dedup_helpers import load_minhash_eval
from pipelines.dedup import job as dedup
from pipelines.io.documents import document_to_row, documents_to_table, iter_parquet_documents, write_parquet_file
from pipelines.dedup.minhash import MAIN, CandidateEdges, MinhashDedup, keep_key
from pipelines.stages.base import Document
from pipelines.stages.minhash_graph import as_ints, compact_name, is_canonical_id
from pipelines.stages.minhash import MinHashConfig, MinHasher, band_keys, tokenize


def load_eval_module():
    return load_minhash_eval()


@pytest.fixture(scope="module")
def corpus(shared_data, tmp_path_factory):
    """Parquet input of real pages + near-duplicates; same id twice once (a re-read file)."""
    mod = load_eval_module()
    docs, truth = mod.make_labelled_corpus(mod.extract_pages(16, warc_dir=shared_data / "warc"),
                                           seed=11, dup_share=0.8)
    # Documents without any word have no shingles: each must stay its own cluster.
    for i, text in enumerate(["", "12 345 -- 6789 !!!"]):
        docs.append(Document(id=f"no-words-{i}", text=text))
        truth[f"no-words-{i}"] = -1 - i
    src = tmp_path_factory.mktemp("dedup_in")
    rows = [document_to_row(d) for d in docs]
    write_parquet_file(str(src / "part-a.parquet"), rows[: len(rows) // 2])
    write_parquet_file(str(src / "part-b.parquet"), rows[len(rows) // 2:] + rows[:1])
    return src, docs, truth, mod


def run_job(src, out, *flags):
    assert dedup.main(["--input", str(src), "--output", str(out), "--num_shards", "3", *flags]) == 0
    stats = json.loads((out / "stats.json").read_text())
    kept = [d for p in sorted((out / "documents").glob("*.parquet")) for d in iter_parquet_documents(str(p))]
    removed_dir = out / "removed" / "minhash"
    removed = [d for p in sorted(removed_dir.glob("*.parquet")) for d in iter_parquet_documents(str(p))]
    return stats, kept, removed


@pytest.fixture(scope="module")
def distributed_run(corpus, tmp_path_factory):
    src = corpus[0]
    out = tmp_path_factory.mktemp("dedup_dist")
    return out, run_job(src, out, "--keep_removed", "--components", "distributed",
                        "--max_rounds", "4", "--keep", "longest_text")


def test_job_removes_near_duplicates_and_accounts_for_every_document(corpus, distributed_run):
    src, docs, truth, mod = corpus
    _, (stats, kept, removed) = distributed_run

    # Accounting: every input row is kept or removed with a counted reason.
    assert stats["documents_in"] == len(docs) + 1
    assert stats["documents_in"] == stats["documents_kept"] + sum(stats["dropped"].values())
    assert stats["documents_kept"] == len(kept)
    assert stats["dropped"]["minhash.duplicate"] + stats["dropped"]["minhash.duplicate_id"] == len(removed)
    assert stats["dropped"]["minhash.duplicate_id"] == 1

    # Clusters match the library path (band keys + union-find); cluster id = smallest member.
    expected = mod.predicted_clusters(docs, MinHashConfig())
    assert {d.id: d.minhash_cluster for d in kept + removed} == expected
    assert all(c == min(i for i, x in expected.items() if x == c) for c in set(expected.values()))

    # --keep longest_text: one kept document per cluster, its longest (ties: smallest id).
    best = {}
    for d in docs:
        c = expected[d.id]
        if c not in best or (-len(d.text), d.id) < (-len(best[c].text), best[c].id):
            best[c] = d
    assert sorted(d.id for d in kept) == sorted(d.id for d in best.values())
    assert any(d.id != d.minhash_cluster for d in kept)  # the rule mattered somewhere
    kept_by_cluster = {d.minhash_cluster: d for d in kept}
    for d in removed:
        assert d.duplicate_of == kept_by_cluster[d.minhash_cluster].id
    # Removed documents really are near-duplicates of what was kept (labelled truth).
    assert sum(1 for d in removed if truth[d.id] == truth[d.duplicate_of]) >= 0.9 * len(removed)

    # Cluster statistics are consistent with the documents.
    clusters = stats["clusters"]
    assert clusters["count"] == len(kept)
    assert sum(int(size) * n for size, n in clusters["size_histogram"].items()) == len(docs)
    assert clusters["duplicate_clusters"] == sum(1 for d in kept if d.minhash_cluster_size > 1)
    assert clusters["duplicate_clusters"] >= 5
    assert stats["minhash"]["components"]["converged"] is True
    assert stats["minhash"]["candidate_edges"] > 0
    assert stats["minhash"]["documents_without_shingles"] == 2
    assert {d.id for d in kept} >= {"no-words-0", "no-words-1"}


def test_rerun_is_byte_identical_and_local_components_give_the_same_output(corpus, distributed_run, tmp_path):
    src = corpus[0]
    dist_out, _ = distributed_run
    for name in ("a", "b"):
        run_job(src, tmp_path / name, "--keep_removed", "--components", "local", "--keep", "longest_text")
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")
    # Documents and removed documents are identical whichever components path ran
    # (stats.json differs only in the components' own figures).
    local, dist = tree_digest(tmp_path / "a"), tree_digest(dist_out)
    assert {k: v for k, v in local.items() if k != "stats.json"} == {k: v for k, v in dist.items() if k != "stats.json"}


def test_partitions_and_components_paths_give_the_same_output(corpus, distributed_run, tmp_path):
    """Band buckets and edge checks split over 3 partitions (as on a cluster, where each
    partition is grouped on one worker) write the bytes of the 1-partition job, with
    either components path."""
    src = corpus[0]
    dist_out, _ = distributed_run
    flags = ["--keep_removed", "--keep", "longest_text", "--minhash_partitions", "3"]
    run_job(src, tmp_path / "d", "--components", "distributed", "--max_rounds", "4", *flags)
    run_job(src, tmp_path / "l", "--components", "local", *flags)
    assert tree_digest(tmp_path / "d") == tree_digest(dist_out)
    local, dist = tree_digest(tmp_path / "l"), tree_digest(dist_out)
    assert {k: v for k, v in local.items() if k != "stats.json"} == {k: v for k, v in dist.items() if k != "stats.json"}


def test_compact_ids_keep_the_order_of_stable_ids_and_name_the_others():
    from pipelines.stages.base import stable_id
    from pipelines.stages.minhash_graph import compact_ids, compact_int

    ids = [stable_id(str(i)) for i in range(300)] + ["no-words-0", "chain-1", "é", ""]
    hi, lo = compact_ids(ids)
    ints = as_ints(hi, lo)
    assert len(set(ints)) == len(ids) and ints == [compact_int(i) for i in ids]
    canonical = ids[:300]
    # Hex ids decode exactly: same order as the strings, and back to the same string.
    assert sorted(canonical) == [compact_name(c) for c in sorted(ints[:300])]
    names = {c: i for c, i in zip(ints[300:], ids[300:])}
    assert [compact_name(c, names) for c in ints] == ids
    assert not is_canonical_id("ABCDEF0123456789abcdef0123456789") and is_canonical_id(ids[0])


def test_keep_rules_order():
    a = Document(id="a", text="short", warc_date="2021-01-01")
    b = Document(id="b", text="much longer text", warc_date="2020-05-01")
    c = Document(id="c", text="much longer text", warc_date="")
    assert min([a, b, c], key=lambda d: keep_key(d, "smallest_id")).id == "a"
    assert min([a, b, c], key=lambda d: keep_key(d, "longest_text")).id == "b"
    assert min([a, b, c], key=lambda d: keep_key(d, "earliest_date")).id == "b"


def test_bad_arguments_explain_what_to_do(tmp_path, capsys):
    with pytest.raises(SystemExit):
        dedup.main(["--input", str(tmp_path / "missing"), "--output", str(tmp_path / "o")])
    assert "no Parquet document files" in capsys.readouterr().err
    # An unknown stage is named before any input is looked at.
    with pytest.raises(SystemExit):
        dedup.main(["--input", str(tmp_path / "missing"), "--output", str(tmp_path / "o"), "--stages", "minhash,nosuch"])
    err = capsys.readouterr().err
    assert "unknown dedup stage 'nosuch'" in err and "minhash, substring, decontaminate" in err


@pytest.mark.parametrize("flag", [["--substring_hot_contexts", "-1"], ["--substring_hot_contexts", "nan"],
                                  ["--substring_hot_contexts", "64", "--substring_rounds", "1"],
                                  ["--substring_worker_mb", "0"], ["--substring_batch_docs", "0"]])
def test_bad_stage_flag_is_one_line_and_exit_2_before_any_output(tmp_path, capsys, flag):
    src = tmp_path / "in"
    src.mkdir()
    write_parquet_file(str(src / "part-0.parquet"), [document_to_row(Document(id="a", url="u", text="x" * 300))])
    out = tmp_path / "o"  # a finished earlier run: a bad flag must leave it as it was
    (out / "documents").mkdir(parents=True)
    (out / "documents" / "part-00000-of-00001.parquet").write_bytes(b"earlier")
    (out / "_SUCCESS").write_text("")
    with pytest.raises(SystemExit) as exc:
        dedup.main(["--input", str(src), "--output", str(out), "--stages", "substring", *flag])
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert err.count("\n") == 1 and f"stage substring: {flag[0]}" in err, err
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == [
        "_SUCCESS", "documents", "documents/part-00000-of-00001.parquet"]


def test_threshold_flag_derives_bands_and_rows():
    parser = argparse.ArgumentParser()
    MinhashDedup.add_arguments(parser)
    stage = MinhashDedup.from_args(parser.parse_args(["--threshold", "0.8", "--components", "local"]))
    assert stage.config.bands * stage.config.rows <= 112
    assert abs(stage.config.threshold - 0.8) < 0.08
    with pytest.raises(ValueError, match="either --threshold"):
        MinhashDedup.from_args(parser.parse_args(["--threshold", "0.8", "--bands", "10"]))


def clusters_of(kept, removed) -> dict:
    return {d.id: d.minhash_cluster for d in kept + removed}


def unverified_star_edges(docs, config) -> list:
    """The candidate edges as the job made them before verification existed (and still
    does with --verify none): per band bucket, every member -> the smallest member."""
    sig, n_sh = MinHasher(config).signatures([d.text for d in docs])
    buckets = {}
    for doc, row, n in zip(docs, band_keys(sig, config.bands, config.rows).tolist(), n_sh):
        for band, key in enumerate(row if n else []):
            buckets.setdefault((band, key), []).append(doc.id)
    return sorted((m, min(ms)) for ms in buckets.values() for m in ms if m != min(ms))


def collected(pcoll, path: pathlib.Path):
    """Write a PCollection's elements to ``path`` (JSON list) when the pipeline runs."""
    return (pcoll | f"List{path.stem}" >> beam.combiners.ToList()
            | f"Write{path.stem}" >> beam.Map(lambda xs: path.write_text(json.dumps(sorted(xs)))))


def _edge_names(element) -> list:
    """CandidateEdges' (partition, ("edges", arrays)) -> [member id, smallest member id] pairs."""
    _, (_, e) = element
    u, v = as_ints(e["u_hi"], e["u_lo"]), as_ints(e["v_hi"], e["v_lo"])
    return [[compact_name(a), compact_name(b)] for a, b in zip(u, v)]


def test_verify_none_gives_the_unverified_candidate_edges_and_clusters(corpus, tmp_path):
    """--verify none is the code path of the job before verification: the same candidate
    edges (verification on or off does not change them; made from arrays in partitions
    of band hashes, however many) and the same clusters as the unverified library path,
    with the old 14 x 8 bands."""
    from apache_beam.testing.test_pipeline import TestPipeline

    src, docs, _, mod = corpus
    old = MinHashConfig(bands=14, rows=8, verify="none")
    # Ids of real pages only: the "no-words" rows have no shingles, hence no edge.
    pages = [d for d in docs if is_canonical_id(d.id)]
    with TestPipeline() as p:
        pcoll = p | beam.Create(pages)
        for name, config, parts in (("none", old, 1), ("signature", MinHashConfig(bands=14, rows=8), 1),
                                    ("parts", old, 3)):
            edges = pcoll | f"Edges_{name}" >> CandidateEdges(config, partitions=parts, batch_size=100)
            collected(edges[MAIN] | f"Names_{name}" >> beam.FlatMap(_edge_names), tmp_path / f"edges_{name}.json")
    # (the Create holds the duplicate-id row only once: the Parquet input has it twice)
    expected = sorted({tuple(e) for e in unverified_star_edges(pages, old)})
    assert len(expected) > 20
    for name in ("none", "signature", "parts"):
        # (distinct per partition of band hashes: an edge whose bands fall in several
        # partitions comes from each; the next join makes them distinct)
        assert sorted({tuple(e) for e in json.loads((tmp_path / f"edges_{name}.json").read_text())}) == expected

    stats, kept, removed = run_job(src, tmp_path / "out", "--verify", "none", "--bands", "14", "--rows", "8",
                                   "--keep_removed", "--components", "local")
    assert clusters_of(kept, removed) == mod.predicted_clusters(docs, old)
    assert stats["minhash"]["verify"] == "none" and "edges_rejected" not in stats["minhash"]
    # The duplicate-id row adds its 14 band keys to buckets (no edge to itself).
    assert stats["minhash"]["candidate_edges"] >= len(expected)


def test_default_verification_finds_the_labelled_clusters(corpus, distributed_run):
    """On the labelled pages of the corpus, the default (37 x 3, each candidate edge
    checked at 0.4) gives exactly the true clusters; 37 x 3 unverified merges different
    pages, and the old 14 x 8 misses a copy."""
    _, docs, truth, mod = corpus
    _, (stats, kept, removed) = distributed_run
    found = clusters_of(kept, removed)
    assert mod.score(found, truth)["clusters"]["precision"] == mod.score(found, truth)["clusters"]["recall"] == 1.0
    assert mod.score(mod.predicted_clusters(docs, MinHashConfig(verify="none")), truth)["pairs"]["precision"] < 0.95
    assert mod.score(mod.predicted_clusters(docs, MinHashConfig(bands=14, rows=8, verify="none")), truth)["clusters"]["recall"] < 1.0
    assert stats["minhash"]["edges_rejected"] >= 1
    assert stats["minhash"]["edges_checked"] < stats["minhash"]["candidate_edges"]  # one check per distinct edge


def test_exact_verification_gives_the_library_clusters(corpus, tmp_path):
    src, docs, _, mod = corpus
    stats, kept, removed = run_job(src, tmp_path, "--verify", "exact", "--keep_removed", "--components", "local")
    assert clusters_of(kept, removed) == mod.predicted_clusters(docs, MinHashConfig(verify="exact"))
    assert stats["minhash"]["verify"] == "exact" and stats["minhash"]["edges_rejected"] >= 1


@pytest.fixture(scope="module")
def chain(shared_data, tmp_path_factory):
    """Seven documents, each two real pages of ~300 words: page k and page k+1. Neighbours
    share a whole page (Jaccard ~1/3), documents two apart share nothing: a chain of weak
    edges with nothing alike at its two ends."""
    mod = load_eval_module()
    pages = sorted((t for _, t in mod.extract_pages(60, warc_dir=shared_data / "warc") if 270 <= len(tokenize(t)) <= 320),
                   key=lambda t: len(tokenize(t)))
    assert len(pages) >= 8
    docs = [Document(id=f"chain-{k}", url=f"https://example.org/{k}", text=pages[k] + "\n" + pages[k + 1])
            for k in range(len(pages) - 1)]
    src = tmp_path_factory.mktemp("chain_in")
    write_parquet_file(str(src / "part-0.parquet"), [document_to_row(d) for d in docs])
    return src, docs


def test_verification_breaks_a_chain_of_shared_pages(chain, tmp_path):
    src, docs = chain
    # With loose bands and no check, every link is a candidate: one cluster of seven.
    stats, kept, removed = run_job(src, tmp_path / "none", "--bands", "56", "--rows", "2", "--verify", "none",
                                   "--keep_removed", "--components", "local")
    # (one cluster of all seven; its id is the member with the smallest compact id, which
    # for ids that are not stable_id's 32 hex digits is a hash: pipelines.stages.minhash_graph)
    assert len(set(clusters_of(kept, removed).values())) == 1 and len(kept) == 1 and len(removed) == len(docs) - 1
    for flags in ([], ["--bands", "56", "--rows", "2"], ["--verify", "exact"]):
        stats, kept, removed = run_job(src, tmp_path / "_".join(["v", *flags]).replace("-", ""), *flags)
        assert len(kept) == len(docs) and not removed
        m = stats["minhash"]
        assert m["edges_checked"] >= 5 and m["edges_rejected"] == m["edges_checked"]
        assert stats["clusters"]["duplicate_clusters"] == 0


def test_rejected_edges_are_a_beam_counter(chain, tmp_path):
    """minhash.edges_rejected is counted by Beam too (the runner's metrics), and agrees
    with stats.json's figure."""
    from apache_beam.metrics.metric import MetricsFilter
    from apache_beam.testing.test_pipeline import TestPipeline

    _, docs = chain
    p = TestPipeline()
    # The stage takes document tables (pipelines.io.documents).
    result = p | beam.Create([documents_to_table(docs)]) | MinhashDedup(MinHashConfig(bands=56, rows=2), components="local")
    collected(result["stats"] | beam.Filter(lambda kv: kv[0] == "minhash") | beam.Map(lambda kv: kv[1]["edges_rejected"]),
              tmp_path / "rejected.json")
    run = p.run()
    run.wait_until_finish()
    counters = run.metrics().query(MetricsFilter().with_namespace("minhash").with_name("edges_rejected"))["counters"]
    assert [c.committed for c in counters] == json.loads((tmp_path / "rejected.json").read_text()) == [len(docs) - 1]


def test_verify_flags():
    parser = argparse.ArgumentParser()
    MinhashDedup.add_arguments(parser)
    default = MinhashDedup.from_args(parser.parse_args(["--components", "local"])).config
    assert (default.bands, default.rows, default.verify, default.verify_threshold) == (37, 3, "signature", 0.4)
    exact = MinhashDedup.from_args(parser.parse_args(["--verify", "exact", "--verify_threshold", "0.6",
                                                      "--threshold", "0.8", "--components", "local"])).config
    assert (exact.verify, exact.verify_threshold) == ("exact", 0.6)
    with pytest.raises(ValueError, match="verify_threshold"):
        MinhashDedup.from_args(parser.parse_args(["--verify_threshold", "1.5", "--components", "local"]))
    with pytest.raises(SystemExit):
        parser.parse_args(["--verify", "sometimes"])


@pytest.mark.slow  # dask_cluster: a scheduler and two workers
def test_dask_cluster_writes_the_same_bytes_as_direct_runner(corpus, distributed_run, tmp_path):
    """A real local Dask cluster (scheduler + 2 worker processes on 127.0.0.1), with both
    connected-components paths."""
    from dask_cluster import local_dask_cluster

    src = corpus[0]
    dist_out, _ = distributed_run
    flags = ["--keep_removed", "--max_rounds", "4", "--keep", "longest_text"]
    run_job(src, tmp_path / "local", "--components", "local", *flags)
    with local_dask_cluster(2) as address:
        on_dask = ["--runner=apache_beam.runners.dask.dask_runner.DaskRunner", f"--dask_client_address={address}"]
        run_job(src, tmp_path / "dask", "--components", "distributed", *flags, *on_dask)
        run_job(src, tmp_path / "dask_local", "--components", "local", *flags, *on_dask)
    assert tree_digest(tmp_path / "dask") == tree_digest(dist_out)
    assert tree_digest(tmp_path / "dask_local") == tree_digest(tmp_path / "local")

def test_report_shows_cluster_sizes_and_true_duplicate_pairs(corpus, distributed_run, tmp_path):
    """report.html: the cluster-size table adds up to stats.json, and every sampled pair
    puts a removed document beside a kept document of the same labelled cluster."""
    import re

    from pipelines.report import cli as report

    _, docs, truth, _ = corpus
    out, (stats, _, removed) = distributed_run
    page = (out / "report.html").read_text(encoding="utf-8")
    rows = re.findall(r'data-range="[^"]+" data-clusters="(\d+)" data-documents="(\d+)"', page)
    assert sum(int(c) for c, _ in rows) == stats["clusters"]["count"]
    assert page.count(">size 1<") == 1  # the cluster sizes are shown once
    assert "clusters are connected components" in page  # why a pair may sit below the threshold
    assert f'{stats["minhash"]["edges_rejected"]:,} rejected' in page  # what verification dropped
    # Every document is in one cluster, except a second row with an id already seen.
    assert sum(int(d) for _, d in rows) == stats["documents_in"] - stats["dropped"].get("minhash.duplicate_id", 0)
    pairs = re.findall(r'data-removed="([^"]+)" data-kept="([^"]+)" data-jaccard="([0-9.]*)"', page)
    duplicate_of = {d.id: d.duplicate_of for d in removed}
    assert len(pairs) == min(8, len(removed))
    for removed_id, kept_id, jaccard in pairs:
        assert duplicate_of[removed_id] == kept_id
        assert truth[removed_id] == truth[kept_id]
        assert jaccard and float(jaccard) > 0.3
    # `python -m pipelines.report` recognises a dedup output and writes the same kind of page.
    (out / "report.html").unlink()
    assert report.main([str(out)]) == 0
    assert "Dedup run report" in (out / "report.html").read_text(encoding="utf-8")


def test_report_notes_an_unreadable_file_instead_of_failing(distributed_run, tmp_path):
    import shutil

    from pipelines.report.dedup_page import write_dedup_report

    out = tmp_path / "copy"
    shutil.copytree(distributed_run[0], out)
    broken = sorted((out / "removed" / "minhash").glob("*.parquet"))[0]
    broken.write_bytes(b"not parquet at all")
    page = pathlib.Path(write_dedup_report(str(out))).read_text(encoding="utf-8")
    assert "Unreadable file skipped" in page and broken.name in page
    assert "Cluster sizes" in page  # the rest of the report is still there
