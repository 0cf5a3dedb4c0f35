"""Shared fixtures (helpers.py holds the skip marks and data builders)."""

from __future__ import annotations

import pytest
from anndata import AnnData
from helpers import DATA, load_pcs, synthetic


@pytest.fixture(scope="module")
def pbmc3500() -> AnnData:
    if not (DATA / "pbmc_3500_pcs.tsv.gz").exists():
        pytest.skip(f"shared data not found: pbmc_3500_pcs.tsv.gz (expected in {DATA})")
    return load_pcs("pbmc_3500")


@pytest.fixture
def small() -> AnnData:
    return synthetic()
