"""The dedup job and its stages: MinHash-LSH near-duplicates (``minhash`` with its
connected ``components``), exact substrings (``substring``), and decontamination
against evaluation sets (``decontaminate``). ``python -m pipelines.dedup`` runs ``job``."""
