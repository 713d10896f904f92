"""The data-centric loop: build corpus variants, train the same small model on each at equal
tokens and seeds, compare them on the same texts (``python -m pipelines.ablate``).

``spec`` reads and checks the YAML spec, ``variants`` turns it into steps (the jobs of
``pipelines.run`` plus ``sample`` and ``evaluate`` here), ``evaluate`` scores a trained
model in bits per byte, ``report`` writes results.json and report.html.
"""
