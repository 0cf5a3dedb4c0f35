"""Shared fixtures (helpers.py holds the skip marks and data builders), and CI's strict mode.

With ``HARMONYBRIDGE_REQUIRE_R=1`` a test skipped because R, rpy2, Seurat, SeuratObject or R
harmony is missing FAILS instead, and with ``HARMONYBRIDGE_REQUIRE_DATA=1`` so does one skipped
because ``../shared/data`` is absent: CI sets both, so that a machine where the set-up could not
install a piece never passes by skipping half the suite. Skips that cannot apply to a stack
(a Seurat-5-only test on Seurat 4) stay skips, with their reason printed (``-ra``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from anndata import AnnData
from helpers import DATA, DATA_MISSING, R_MISSING, SEURAT_COUNTS, build_seurat_objects, load_pcs, r_missing, synthetic

STRICT = {
    R_MISSING: os.environ.get("HARMONYBRIDGE_REQUIRE_R") == "1",
    DATA_MISSING: os.environ.get("HARMONYBRIDGE_REQUIRE_DATA") == "1",
}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or not isinstance(report.longrepr, tuple):
        return
    reason = str(report.longrepr[2]).removeprefix("Skipped: ")
    for prefix, strict in STRICT.items():
        if strict and reason.startswith(prefix):
            variable = "HARMONYBRIDGE_REQUIRE_R" if prefix == R_MISSING else "HARMONYBRIDGE_REQUIRE_DATA"
            report.outcome = "failed"
            report.longrepr = f"{variable}=1 forbids this skip: {reason}"


@pytest.fixture(scope="module")
def pbmc3500() -> AnnData:
    if not (DATA / "pbmc_3500_pcs.tsv.gz").exists():
        pytest.skip(f"{DATA_MISSING}: pbmc_3500_pcs.tsv.gz (expected in {DATA})")
    return load_pcs("pbmc_3500")


@pytest.fixture
def small() -> AnnData:
    return synthetic()


@pytest.fixture(scope="session")
def seurat_objects() -> Path:
    """Real Seurat objects built by Seurat from shared data (tests/r/build_seurat_objects.R), once.

    A folder with standard.rds, idents.rds, sct.rds, v5split.rds (SeuratObject >= 5), built.txt
    listing them, and input/ (the counts as the R scripts read them). Cached across sessions
    under ``$HARMONYBRIDGE_TEST_CACHE`` (default: the temporary folder), keyed by the script,
    the data and the R/Seurat versions.
    """
    reason = r_missing("Seurat")
    if reason is not None:
        pytest.skip(f"{R_MISSING} package 'Seurat': {reason}")
    if shutil.which("Rscript") is None:
        pytest.skip(f"{R_MISSING}: Rscript not on PATH")
    if not (DATA / SEURAT_COUNTS).exists():
        pytest.skip(f"{DATA_MISSING}: {SEURAT_COUNTS} (expected in {DATA})")
    root = os.environ.get("HARMONYBRIDGE_TEST_CACHE") or Path(tempfile.gettempdir()) / "harmonybridge-tests"
    return build_seurat_objects(Path(root))


@pytest.fixture(autouse=True)
def _environment_kept():
    """Every test leaves os.environ as it found it: distributed's Nanny sets OMP_NUM_THREADS=1 (and
    more) in the process that starts a LocalCluster, and R harmony in a later Rscript then refused
    ncores=2 ("Maximum available cores: 1")."""
    before = dict(os.environ)
    yield
    for key in set(os.environ) - set(before):
        del os.environ[key]
    os.environ.update(before)
