"""Cross-check on real data: 'agree' on every shared dataset, 'disagree' when a difference is planted."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from anndata import AnnData
from helpers import DATA, DATA_MISSING, load_pcs, needs_r, synthetic

import harmonybridge as hb
from harmonybridge import HarmonyBridgeWarning
from harmonybridge.cli import main
from harmonybridge.crosscheck._agreement import VACUOUS

pytestmark = [needs_r("harmony"), pytest.mark.slow]


@pytest.mark.parametrize(
    ("name", "batch", "label"), [("pbmc_3500", "donor", None), ("cell_lines_2370", "dataset", "cell_type")]
)
def test_agree_on_pcs_datasets(name, batch, label):
    if not (DATA / f"{name}_pcs.tsv.gz").exists():
        pytest.skip(f"{DATA_MISSING}: {name} (expected in {DATA})")
    adata = load_pcs(name)
    report = hb.cross_check(adata, batch, label_key=label, figures=False)
    assert report.passed, repr(report)
    assert report.verdict == "agree"
    assert report.table.loc["pc_r_min", "between engines"] > 0.99
    # harmony mixes batches in both engines
    integ = report.integration
    col = f"batch LISI ({batch})"
    assert integ.loc["python", col] > integ.loc["uncorrected", col] + 0.3
    assert integ.loc["r", col] > integ.loc["uncorrected", col] + 0.3
    if label:
        assert integ.loc["python", f"label LISI ({label})"] < 1.2  # cell types stay apart
    assert set(report.versions) >= {"harmonypy", "R", "harmony"}
    assert report.params["python"] == report.params["r"]


def test_planted_difference_is_caught(pbmc3500):
    report = hb.cross_check(pbmc3500, "donor", python_params={"theta": 0.0}, r_params={"theta": 2.0}, figures=False)
    assert not report.passed
    assert report.verdict == "disagree"
    assert (report.table["agree"] == "NO").sum() >= 3
    assert report.params["python"]["theta"] == [0.0] and report.params["r"]["theta"] == [2.0]


@pytest.mark.parametrize(
    ("file", "batch", "label"),
    [("symphony_pbmcs_1200_counts.h5ad", "donor", "cell_type"), ("ifnb_2800_counts.h5ad", "stim", "cell_type")],
)
def test_check_cli_on_counts_datasets(tmp_path, capsys, file, batch, label):
    if not (DATA / file).exists():
        pytest.skip(f"{DATA_MISSING}: {file} (expected in {DATA})")
    code = main(["-q", "check", str(DATA / file), "--batch", batch, "--label", label, "--report", str(tmp_path)])
    out = capsys.readouterr().out
    assert "verdict: the engines AGREE" in out, out
    assert code == 0
    page = (tmp_path / "report.html").read_text()
    assert "Engines AGREE" in page and page.count("data:image/png;base64,") == 3
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["verdict"] == "agree" and data["meta"]["label_key"] == label
    assert "overrides: none (every engine ran the same parameters)" in out
    assert data["warnings"] == [] and 'class="warn"' not in page
    assert {"harmony_python", "harmony_r", "knn", "leiden", "total"} <= set(data["timings_seconds"])


def test_check_cli_exit_code_on_disagreement(tmp_path, capsys):
    path = tmp_path / "s.h5ad"
    hb.write(synthetic(n_cells=600), path)
    code = main(
        ["-q", "check", str(path), "--batch", "batch", "--report", str(tmp_path / "rep"), "--python-param", "theta=0"]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "verdict: the engines DISAGREE" in out
    assert "overrides applied to one engine only: Python engine theta=0 (shared: 2)" in out  # the console says so
    page = (tmp_path / "rep" / "report.html").read_text()
    assert "Engines DISAGREE" in page and 'class="bad"' in page
    data = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert data["params"]["python"]["theta"] == [0.0] and data["params"]["r"]["theta"] == [2.0]


@pytest.mark.parametrize("name", ["pbmc_3500", "cell_lines_2370"])
def test_planted_large_lambda_is_caught_on_any_data(name):
    """The README's planted difference: a huge ridge penalty (lamb) all but switches one engine's correction off."""
    if not (DATA / f"{name}_pcs.tsv.gz").exists():
        pytest.skip(f"{DATA_MISSING}: {name} (expected in {DATA})")
    adata = load_pcs(name)
    batch = "donor" if name == "pbmc_3500" else "dataset"
    report = hb.cross_check(adata, batch, python_params={"lamb": 1e4}, figures=False)
    assert report.verdict == "disagree", repr(report)
    assert report.meta["overrides"]["python"] == {"lamb": {"engine": 10000, "shared": "automatic"}}
    assert "Python engine lamb=10000 (shared: automatic)" in repr(report)


def _noise(n_cells: int = 60, n_pcs: int = 30):
    """PCs without structure beyond a batch shift: Harmony's result there depends on the seed."""
    rng = np.random.default_rng(0)
    batch = rng.integers(0, 3, n_cells)
    Z = rng.normal(0, 1, (n_cells, n_pcs))
    Z[:, :3] += np.eye(3)[batch] * 3
    adata = AnnData(
        obs=pd.DataFrame({"batch": pd.Categorical([f"b{b}" for b in batch])}, index=[f"c{i}" for i in range(n_cells)])
    )
    adata.obsm["X_pca"] = Z
    return adata


def test_wide_seed_spread_is_flagged(tmp_path, capsys):
    adata = _noise()
    with pytest.warns(HarmonyBridgeWarning, match="the verdict says little: an engine's own seeds differ widely"):
        report = hb.cross_check(adata, "batch", nclust=10, figures=False)
    assert len(report.warnings) == 1 and re.search(r"two (Python|R) seeds give", report.warnings[0])
    assert any(report.table.loc[m, "limit"] < bound for m, bound in VACUOUS.items())
    assert json.loads(report.to_json())["warnings"] == report.warnings
    assert 'class="warn"' in report.to_html()
    # the command line prints it once on stderr, as a warning line (not a Python source pointer)
    path = tmp_path / "noise.h5ad"
    adata.write_h5ad(path)
    main(["-q", "check", str(path), "--batch", "batch", "--nclust", "10", "--report", str(tmp_path / "rep")])
    err = capsys.readouterr().err
    assert err.count("harmonybridge: warning: the verdict says little") == 1
    assert "cli.py" not in err and "warn(" not in err


def test_check_cli_rejects_bad_override(tmp_path, capsys):
    path = tmp_path / "s.h5ad"
    hb.write(synthetic(), path)
    assert main(["check", str(path), "--batch", "batch", "--report", str(tmp_path), "--r-param", "gamma=1"]) == 2
    assert "engine parameter must be KEY=VALUE" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"label_key": "tissue"}, KeyError, r"label key 'tissue' not in adata.obs; available columns"),
        ({"label_key": "one"}, ValueError, r"adata.obs\['one'\] has one level only"),
        ({"n_seeds": 1}, ValueError, "n_seeds must be at least 2"),
        ({"batch_key": "nope"}, KeyError, "batch key 'nope' not in adata.obs"),
    ],
)
def test_errors(kwargs, error, match):
    adata = synthetic()
    adata.obs["one"] = "x"
    kwargs = {"batch_key": "batch", **kwargs}
    with pytest.raises(error, match=match):
        hb.cross_check(adata, **kwargs)


def test_too_few_cells_for_15_neighbours():
    with (
        pytest.warns(HarmonyBridgeWarning, match="fewer than 10 cells"),
        pytest.raises(ValueError, match="12 cells are too few for 15 nearest neighbours"),
    ):
        hb.cross_check(synthetic(n_cells=12), "batch")


def test_check_without_r_harmony_exits_nonzero_with_the_fix(tmp_path):
    """A real R whose search path hides the library holding harmony (harmonybridge's R half stays visible)."""
    from harmonybridge import _rbridge

    ro = _rbridge.robjects()
    harmony_lib = str(Path(ro.r["find.package"]("harmony")[0]).parent)
    seurat_lib = str(Path(ro.r["find.package"]("SeuratObject")[0]).parent)
    if harmony_lib == seurat_lib:
        pytest.skip(f"R harmony shares its library with Seurat ({harmony_lib}); it cannot be hidden alone")
    lib = tmp_path / "rlib"
    lib.mkdir()
    os.symlink(ro.r["find.package"]("harmonybridge")[0], lib / "harmonybridge")
    profile = tmp_path / "Rprofile"
    profile.write_text(
        "local({\n"
        f"  site <- setdiff(normalizePath(.Library.site), normalizePath({harmony_lib!r}))\n"
        "  unlockBinding('.Library.site', baseenv()); assign('.Library.site', site, envir = baseenv())\n"
        f"  .libPaths(c({str(lib)!r}, site))\n"
        "})\n"
    )
    env = {**os.environ, "R_PROFILE_USER": str(profile), "R_LIBS_USER": str(tmp_path / "none")}
    path = tmp_path / "s.h5ad"
    hb.write(synthetic(), path)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "harmonybridge.cli",
            "check",
            str(path),
            "--batch",
            "batch",
            "--report",
            str(tmp_path / "rep"),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "R package 'harmony' is not installed; in R: install.packages('harmony')" in proc.stderr
    assert not (tmp_path / "rep" / "report.html").exists()


def test_batch_prop_cutoff_reaches_both_engines(pbmc3500):
    """A cutoff of 0.01 (default 1e-5) leaves batches uncorrected in clusters they barely reach: planted in
    one engine the cross-check sees it, set for both the engines agree again."""
    planted = hb.cross_check(pbmc3500, "donor", python_params={"batch_prop_cutoff": 0.01}, figures=False)
    assert not planted.passed, repr(planted)
    assert planted.params["python"]["batch_prop_cutoff"] == 0.01 and planted.params["r"]["batch_prop_cutoff"] == 1e-5
    both = hb.cross_check(pbmc3500, "donor", batch_prop_cutoff=0.01, figures=False)
    assert both.passed, repr(both)
    assert both.params["python"]["batch_prop_cutoff"] == both.params["r"]["batch_prop_cutoff"] == 0.01
