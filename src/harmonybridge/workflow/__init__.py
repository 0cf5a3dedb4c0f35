"""The demo: a scanpy workflow around Harmony on the shipped PBMCs (``data/``), its figures and summary."""
