"""The seurat engine: Seurat 5's IntegrateLayers(method = HarmonyIntegration) in the cross-check."""

from __future__ import annotations

import functools

import pytest
from helpers import needs_r, synthetic

import harmonybridge as hb
from harmonybridge.cli import main

pytestmark = needs_r("harmony")


@functools.cache
def _path():
    from harmonybridge.harmony.engines._seurat import seurat_path

    return seurat_path()


def _seurat_major() -> int:
    from harmonybridge import _rbridge

    return int(_rbridge.package_version("Seurat").split(".")[0]) if _rbridge.has_package("Seurat") else 0


seurat4 = pytest.mark.skipif(_seurat_major() >= 5, reason="cannot apply: this is a Seurat 5 stack")
seurat5 = pytest.mark.skipif(_seurat_major() < 5, reason="cannot apply: IntegrateLayers needs Seurat 5")


@seurat4
def test_seurat4_says_the_path_needs_seurat5_before_any_work(caplog):
    with (
        caplog.at_level("INFO", logger="harmonybridge"),
        pytest.raises(hb.SeuratPathUnavailable, match=r"which needs Seurat 5; this R has Seurat 4\."),
    ):
        hb.cross_check(synthetic(), "batch", engines=("python", "r", "seurat"))
    assert not any("engine, seed" in r.getMessage() for r in caplog.records)  # no engine ran


@seurat5
def test_seurat5_path_runs_and_says_how():
    """On Seurat 5 the path runs. Where the installed HarmonyIntegration calls harmony::HarmonyMatrix, which
    harmony 2 removed (Seurat 5.0-5.2), it runs with that call redirected as Seurat's fix does, and says so."""
    path = _path()
    assert path.ok, path.reason
    assert path.defaults["max_iter_kmeans"] == 20 and path.fixed["batch_prop_cutoff"] == 1e-5
    if path.note:
        assert "calls harmony::HarmonyMatrix, which R harmony" in path.note
        assert "redirected to harmony::RunHarmony as Seurat's fix does" in path.note


@seurat5
def test_seurat_defaults_are_the_installed_seurats():
    d = hb.seurat_defaults()
    assert d["max_iter_kmeans"] == 20 and d["epsilon_cluster"] == 1e-5
    assert d["theta"] is None and d["lamb"] is None and d["nclust"] is None
    assert d["alpha"] == 0.2 and d["batch_prop_cutoff"] == 1e-5
    hb.HarmonyParams(**d)  # valid harmonybridge parameters


@seurat5
def test_three_engines_every_pair_and_the_parameters_that_differ(pbmc3500):
    same = hb.cross_check(pbmc3500, "donor", engines=("python", "r", "seurat"), seurat_params={}, figures=False)
    assert set(same.tables) == {"python vs r", "python vs seurat", "r vs seurat"}
    assert same.passed, repr(same)
    assert same.param_differences["r vs seurat"].keys() <= {"ncores"}
    own = hb.cross_check(pbmc3500, "donor", engines=("r", "seurat"), figures=False)
    assert own.param_differences["r vs seurat"]["max_iter_kmeans"] == [4, 20]
    # how the Seurat path ran is in the report wherever it is read
    note = _path().note
    assert own.meta.get("seurat_path", "") == note
    if note:
        assert f"Seurat path: {note}" in repr(own) and "Seurat path: " in own.to_html()


def test_engines_are_checked():
    with pytest.raises(
        ValueError, match=r"engines must be two or more distinct names from \['python', 'r', 'seurat', 'dask'\]"
    ):
        hb.cross_check(synthetic(), "batch", engines=("python",))
    with pytest.raises(ValueError, match="engines must be two or more distinct names"):
        hb.cross_check(synthetic(), "batch", engines=("python", "julia"))


def test_cross_check_of_python_and_r_only_needs_no_seurat(tmp_path, capsys):
    path = tmp_path / "s.h5ad"
    hb.write(synthetic(n_cells=400), path)
    code = main(
        ["-q", "check", str(path), "--batch", "batch", "--report", str(tmp_path / "rep"), "--engines", "python", "r"]
    )
    out = capsys.readouterr().out
    assert code == 0 and "python vs r: agree" in out


def test_check_cli_says_why_the_seurat_path_cannot_run(tmp_path, capsys):
    if _path().ok:
        pytest.skip("cannot apply: the Seurat path runs on this stack")
    path = tmp_path / "s.h5ad"
    hb.write(synthetic(), path)
    code = main(
        ["check", str(path), "--batch", "batch", "--report", str(tmp_path / "rep"), "--engines", "python", "seurat"]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("harmonybridge: error: ") and _path().reason in err
