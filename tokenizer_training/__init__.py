"""SentencePiece tokenizer training and evaluation on the pipeline's documents."""
# Imported first so Beam's import-time noise is filtered before Beam loads (pipelines.joblog).
import pipelines  # noqa: F401
