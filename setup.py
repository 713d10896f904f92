# Shim so Beam's --setup_file (Dataflow, portable runners) can stage this package;
# all metadata lives in pyproject.toml.
from setuptools import setup

setup()
