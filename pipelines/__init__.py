"""Common Crawl WARC -> clean, deduplicated documents -> token shards, as Apache Beam jobs.

Importing the package drops Beam's import-time noise from the logs (see
``pipelines.joblog``); it must happen before Beam is imported, which is why it is here.
"""
from pipelines.joblog import install_noise_filter

install_noise_filter()
