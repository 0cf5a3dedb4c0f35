"""The demo: a scanpy workflow around Harmony on the shipped PBMCs (``data/``), its figures and summary."""

from ._demo import DemoRun, run_demo
from ._pipeline import DEMO_BATCH, DEMO_FILE, DEMO_LABEL, demo_path, load_demo, pca_if_missing

__all__ = ["DEMO_BATCH", "DEMO_FILE", "DEMO_LABEL", "DemoRun", "demo_path", "load_demo", "pca_if_missing", "run_demo"]
