"""Self-contained HTML reports of job outputs: the clean page, the dedup page, and the
small HTML/SVG kit they share. ``python -m pipelines.report OUTPUT`` rewrites one."""
