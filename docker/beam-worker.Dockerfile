# Beam SDK worker image for Dataflow / Flink / Spark (--environment_type=DOCKER).
# The base image's Beam version must equal the one installed by pyproject.toml.
# Not built in CI (no Docker engine there).
FROM apache/beam_python3.11_sdk:2.77.0
WORKDIR /opt/corpus-pipeline
COPY pyproject.toml setup.py README.md ./
COPY pipelines ./pipelines
COPY tokenizer_training ./tokenizer_training
COPY model ./model
RUN pip install --no-cache-dir .
