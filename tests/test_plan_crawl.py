"""python -m pipelines.plan_crawl: projection from the committed measurements, and its
sizes from a crawl listing or the flags."""
from __future__ import annotations

import gzip
import json

import pytest

from conftest import run_module
from pipelines import plan_crawl

RATES = {
    "clean": {"source": "fixture", "read_cpu_s_per_page": 0.004, "beam_cpu_s_per_page": 0.006,
              "startup_cpu_s_per_process": 3.0, "job_cpu_s_per_page": 0.03,
              "stages": {"extract": {"cpu_s_per_page": 0.018}, "langid": {"cpu_s_per_page": 0.002}},
              "kept_share_of_pages": 0.5, "text_bytes_per_kept_page": 4000, "shuffle_bytes_per_page": 2000,
              "peak_worker_rss_mb": 300},
    "minhash": {"source": "fixture", "documents_per_cpu_s": 1000, "shuffle_bytes_per_document": None},
    "substring": {"source": "fixture", "text_mb_per_cpu_s": 0.5, "shuffle_bytes_per_text_byte": 4.0},
}


def test_plan_is_the_measured_rates_times_the_snapshot():
    result = plan_crawl.plan(3.6e9, 90_000, RATES, workers=10, vcpus_per_worker=4, price_per_vcpu_hour=0.05)
    hours = {r["stage"]: r["core_hours"] for r in result["rows"]}
    assert hours["extract"] == pytest.approx(3.6e9 * 0.018 / 3600)
    assert hours["read WARC"] == pytest.approx(3.6e9 * 0.004 / 3600)
    assert hours["start-up"] == pytest.approx(40 * 3.0 / 3600)  # once per worker process
    assert hours["minhash"] == pytest.approx(1.8e9 / 1000 / 3600)  # kept documents / rate
    assert hours["substring"] == pytest.approx(1.8e9 * 4000 / 1e6 / 0.5 / 3600)
    assert result["core_hours"] == pytest.approx(sum(hours.values()))
    assert sum(r["share"] for r in result["rows"]) == pytest.approx(1.0)
    assert result["cost"] == pytest.approx(result["core_hours"] * 0.05)
    clean_hours = sum(h for s, h in hours.items() if s not in ("minhash", "substring"))
    assert clean_hours == pytest.approx(3.6e9 * (0.004 + 0.006 + 0.018 + 0.002) / 3600 + 40 * 3.0 / 3600)
    assert result["jobs"]["clean"]["wall_hours"] == pytest.approx(clean_hours / 40)
    # Shuffle: the clean job's per page plus substring's contexts; MinHash's is unmeasured.
    assert result["shuffle_bytes"] == pytest.approx(3.6e9 * 2000 + 1.8e9 * 4000 * 4.0)
    assert result["unmeasured_shuffle"] == ["minhash"]


def test_a_whole_file_is_the_least_wall_time_of_the_clean_job():
    result = plan_crawl.plan(1e6, 2, RATES, workers=1000, vcpus_per_worker=8, price_per_vcpu_hour=0.05)
    assert result["jobs"]["clean"]["wall_hours"] == pytest.approx(5e5 * 0.03 / 3600)


def test_committed_rates_cover_every_stage_of_the_default_clean_job():
    from pipelines.clean import build_arg_parser, build_stages

    rates = plan_crawl.load_rates()
    stages = [s.name for s in build_stages(build_arg_parser().parse_args(["--output", "unused"]))]
    assert set(stages) <= set(rates["clean"]["stages"]), "rerun bench/clean.py --write_rates"
    for section in ("clean", "minhash", "substring"):
        assert rates[section]["source"]
    table = plan_crawl.to_markdown(plan_crawl.plan(1e9, 90_000, rates, 100, 4, 0.056))
    assert "| **total** |" in table and "extract" in table


@pytest.fixture
def rates_file(tmp_path):
    path = tmp_path / "rates.json"
    path.write_text(json.dumps(RATES))
    return str(path)


def test_listing_gives_the_file_count(tmp_path, capsys, rates_file):
    listing = tmp_path / "crawl-data" / "CC-MAIN-2024-10" / "warc.paths.gz"
    listing.parent.mkdir(parents=True)
    listing.write_bytes(gzip.compress(b"".join(b"crawl-data/CC-MAIN-2024-10/segments/s/warc/f%d.warc.gz\n" % i
                                               for i in range(3))))
    assert plan_crawl.main(["--crawl", "CC-MAIN-2024-10", "--pages", "1e6", "--warc_files", "99",
                            "--cc_base_url", str(tmp_path), "--rates", rates_file, "--json"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["warc_files"] == 3  # the listing wins over the flag
    assert "3 WARC files listed" in out.err


def test_unreachable_listing_falls_back_to_the_flags(tmp_path, capsys, rates_file):
    assert plan_crawl.main(["--crawl", "CC-MAIN-2024-10", "--pages", "1e6", "--warc_files", "7",
                            "--cc_base_url", str(tmp_path / "nowhere"), "--rates", rates_file, "--json"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["warc_files"] == 7
    assert "not reachable" in out.err and "using --pages/--warc_files" in out.err


def test_missing_pages_or_rates_say_what_to_pass(tmp_path):
    proc = run_module("pipelines.plan_crawl", "--crawl", "CC-MAIN-2024-10", timeout=120, check=False)
    assert proc.returncode == 2 and "--pages" in proc.stderr and "Traceback" not in proc.stderr
    empty = tmp_path / "rates.json"
    empty.write_text(json.dumps({"clean": None}))
    proc = run_module("pipelines.plan_crawl", "--pages", "1e6", "--rates", empty, timeout=120, check=False)
    assert proc.returncode == 2 and "bench/clean.py --write_rates" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
