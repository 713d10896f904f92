# Trainer image: torchrun -m model.train on GPU nodes. Not built in CI (no Docker engine).
FROM pytorch/pytorch:2.9.0-cuda12.8-cudnn9-runtime
WORKDIR /opt/corpus-pipeline
COPY pyproject.toml setup.py README.md ./
COPY pipelines ./pipelines
COPY tokenizer_training ./tokenizer_training
COPY model ./model
RUN pip install --no-cache-dir ".[train]"
ENTRYPOINT ["torchrun"]
