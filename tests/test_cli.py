"""The harmonybridge command: run, doctor, demo, and its errors (exit 2, one clear line)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from helpers import synthetic

import harmonybridge as hb
from harmonybridge._core import files as _io
from harmonybridge.cli import main

EXE = [sys.executable, "-m", "harmonybridge.cli"]


@pytest.fixture
def small_h5ad(tmp_path):
    path = tmp_path / "small.h5ad"
    hb.write(synthetic(), path)
    return path


def test_run_writes_corrected_file(small_h5ad, tmp_path, capsys):
    out = tmp_path / "out.h5ad"
    assert main(["run", str(small_h5ad), "--batch", "batch", "--out", str(out), "--theta", "1.5", "--seed", "3"]) == 0
    adata = hb.read(out)
    expected = synthetic()
    hb.run_harmony(expected, "batch", theta=1.5, random_state=3)
    np.testing.assert_array_equal(adata.obsm["X_pca_harmony"], expected.obsm["X_pca_harmony"])
    assert adata.uns["harmony"]["params"]["theta"] == [1.5]
    assert "wrote" in capsys.readouterr().out


def test_run_default_output_beside_input(small_h5ad):
    assert main(["-q", "run", str(small_h5ad), "--batch", "batch"]) == 0
    assert (small_h5ad.parent / "small.harmony.h5ad").exists()


def test_run_as_a_subprocess(small_h5ad, tmp_path):
    """The console entry point, as users call it."""
    out = tmp_path / "o.h5ad"
    proc = subprocess.run(
        [*EXE, "run", str(small_h5ad), "--batch", "batch", "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "iterations" in proc.stdout
    assert out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "{missing}", "--batch", "batch"], "input file '{missing}' does not exist"),
        (["run", "{txt}", "--batch", "batch"], "is not .h5ad or .rds"),
        (["run", "{fake}", "--batch", "batch"], "is not an h5ad file (no HDF5 signature)"),
        (
            ["run", "{h5ad}", "--batch", "donor"],
            "--batch donor: 'donor' is not a column of {h5ad}; available columns: ['batch', 'cell_type']",
        ),
        (
            ["run", "{h5ad}", "--batch", "batch", "--basis", "X_umap"],
            "--basis X_umap: {h5ad} has no obsm['X_umap']; available: ['X_pca']",
        ),
        (
            ["run", "{h5ad}", "--batch", "batch", "--nclust", "400"],
            "--nclust 400 must be smaller than the number of cells (300)",
        ),
        (["run", "{h5ad}", "--batch", "batch", "--seed", "-1"], "--seed must be between 0"),
        (["run", "{h5ad}", "--batch", "batch", "--out", "{txt}/o.h5ad"], "is a file, not a folder"),
        (["run", "{h5ad}", "--batch", "batch", "--out", "{tmp}/o.csv"], "must end in .h5ad or .rds"),
        (["run", "{h5ad}", "--batch", "batch", "--sigma", "-1"], "sigma must be in (0"),
    ],
)
def test_run_errors(small_h5ad, tmp_path, capsys, args, message):
    (tmp_path / "a.txt").write_text("x")
    (tmp_path / "fake.h5ad").write_text("not hdf5")
    names = {
        "missing": str(tmp_path / "nope.h5ad"),
        "txt": str(tmp_path / "a.txt"),
        "fake": str(tmp_path / "fake.h5ad"),
        "h5ad": str(small_h5ad),
        "nodir": str(tmp_path / "nodir"),
        "tmp": str(tmp_path),
    }
    before = small_h5ad.read_bytes()
    assert main([a.format(**names) for a in args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("harmonybridge: error: ")
    assert message.format(**names) in err
    assert small_h5ad.read_bytes() == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere; a read-only folder cannot be made")
def test_run_unwritable_output(small_h5ad, tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    assert main(["run", str(small_h5ad), "--batch", "batch", "--out", str(ro / "o.h5ad")]) == 2
    assert "is not writable" in capsys.readouterr().err


def test_output_under_a_file_is_refused(small_h5ad, tmp_path):
    """A path whose folder is a regular file has no folder to write into."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(NotADirectoryError, match=r"'.*/file' is a file, not a folder; choose another path"):
        _io.check_output(blocker / "sub" / "o.h5ad")
    assert blocker.read_text() == ""


# ---- one rule for output folders: created when missing, after the input is checked -------------


def test_run_creates_missing_output_folders(small_h5ad, tmp_path):
    out = tmp_path / "new" / "deeper" / "o.h5ad"
    assert main(["-q", "run", str(small_h5ad), "--batch", "batch", "--out", str(out)]) == 0
    assert "X_pca_harmony" in hb.read(out).obsm


@pytest.mark.parametrize(
    "args",
    [
        ["run", "{h5ad}", "--batch", "nope", "--out", "{new}/o.h5ad"],
        ["run", "{missing}", "--batch", "batch", "--out", "{new}/o.h5ad"],
        ["check", "{missing}", "--batch", "batch", "--report", "{new}/report"],
        ["check", "{h5ad}", "--batch", "nope", "--report", "{new}/report"],
        ["check", "{h5ad}", "--batch", "batch", "--label", "nope", "--report", "{new}/report"],
        ["demo", "--input", "{missing}", "--batch", "batch", "--out", "{new}/demo"],
        ["demo", "--input", "{h5ad}", "--batch", "nope", "--out", "{new}/demo"],
        ["demo", "--batch", "donor", "--out", "{new}/demo"],
        ["convert", "{missing}", "{new}/o.rds"],
    ],
    ids=[
        "run-key",
        "run-missing",
        "check-missing",
        "check-key",
        "check-label",
        "demo-missing",
        "demo-key",
        "demo-batch-without-input",
        "convert-missing",
    ],
)
def test_input_is_checked_before_any_output_folder_is_made(small_h5ad, tmp_path, capsys, args):
    names = {"h5ad": str(small_h5ad), "missing": str(tmp_path / "nope.h5ad"), "new": str(tmp_path / "new")}
    assert main([a.format(**names) for a in args]) == 2
    assert capsys.readouterr().err.startswith("harmonybridge: error: ")
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["run", "{h5ad}", "--batch", "batch", "--out", "{file}/o.h5ad"],
        ["check", "{h5ad}", "--batch", "batch", "--report", "{file}/report"],
        ["demo", "--out", "{file}/demo"],
        ["convert", "{h5ad}", "{file}/sub/o.rds"],
    ],
    ids=["run", "check", "demo", "convert"],
)
def test_a_file_in_the_way_is_refused_the_same_way_by_every_command(small_h5ad, tmp_path, capsys, args):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main([a.format(h5ad=small_h5ad, file=blocker) for a in args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("harmonybridge: error: cannot write ") and f"{str(blocker)!r} is a file, not a folder" in err
    assert "[Errno" not in err


def test_os_errors_are_shown_without_errno(tmp_path):
    from harmonybridge.cli._console import error_text

    try:
        (tmp_path / "no" / "such").open()
    except OSError as err:  # a real one, from the OS
        assert str(err).startswith("[Errno 2]")
        assert error_text(err) == f"no such file or directory: {str(tmp_path / 'no' / 'such')!r}"
    assert error_text(PermissionError(13, "Permission denied", "/a", None, "/b")) == "permission denied: '/a' -> '/b'"
    assert error_text(KeyError("'X' not in adata.obsm")) == "'X' not in adata.obsm"


def test_help_prints_each_default_once():
    from harmonybridge.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for command in ("run", "check"):
        for action in sub.choices[command]._actions:
            if action.help and action.dest not in ("help",):
                assert action.help.count("default") <= 1, (command, action.dest, action.help)
                assert "(default: None)" not in action.help and "(default None)" not in action.help, (
                    command,
                    action.help,
                )
    text = sub.choices["run"].format_help()
    assert "(default 2)" in text and "(default: None)" not in text


# ---- run on counts does what check does ---------------------------------------------------------


def test_run_on_counts_computes_the_pca_as_check_does(tmp_path, caplog):
    from harmonybridge.workflow._pipeline import demo_path

    out = tmp_path / "o.h5ad"
    with caplog.at_level("INFO", logger="harmonybridge"):
        assert main(["run", str(demo_path()), "--batch", "donor", "--out", str(out)]) == 0
    assert "no X_pca in" in caplog.text and "computing it from the counts" in caplog.text
    adata = hb.read(out)
    assert {"X_pca", "X_pca_harmony"} <= set(adata.obsm) and adata.n_obs == 1200  # no cell dropped
    assert adata.uns["pca"]["preprocess"]["scale"] is True


def test_run_and_check_refuse_a_file_without_pca_or_counts_the_same_way(tmp_path, capsys):
    adata = synthetic(n_genes=20)
    adata.X = adata.X * 0.5  # not counts
    del adata.obsm["X_pca"]
    path = tmp_path / "normalized.h5ad"
    hb.write(adata, path)
    errors = []
    for args in (
        ["run", str(path), "--batch", "batch"],
        ["check", str(path), "--batch", "batch", "--report", str(tmp_path / "r")],
    ):
        assert main(args) == 2
        errors.append(capsys.readouterr().err)
    assert errors[0] == errors[1]
    assert (
        "'X_pca' not in adata.obsm" in errors[0]
        and "holds no raw counts" in errors[0]
        and "sc.pp.pca(adata)" in errors[0]
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="as another user, test_run_unwritable_output makes a read-only folder")
def test_run_unwritable_output_as_root(small_h5ad, tmp_path, capsys):
    """Root writes into any folder except an immutable one (chattr +i), which the command must refuse up front."""
    folder = tmp_path / "immutable"
    folder.mkdir()
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(folder)], capture_output=True, check=False).returncode:
        pytest.skip("chattr +i is not available here (no chattr, or a file system or container without it)")
    try:
        assert main(["run", str(small_h5ad), "--batch", "batch", "--out", str(folder / "o.h5ad")]) == 2
        assert f"folder {str(folder)!r} is not writable" in capsys.readouterr().err
        assert list(folder.iterdir()) == []
    finally:
        subprocess.run([chattr, "-i", str(folder)], check=True)


def test_atomic_write_leaves_no_partial_file(tmp_path):
    """A write that fails midway leaves neither the target nor a temporary file."""
    target = tmp_path / "t.h5ad"
    adata = synthetic()
    adata.uns["bad"] = object()  # anndata cannot write this
    with pytest.raises(Exception, match="object"):
        _io.write_h5ad(adata, target)
    assert list(tmp_path.iterdir()) == []
    # and an existing file survives a failed overwrite
    hb.write(synthetic(), target)
    before = target.read_bytes()
    with pytest.raises(Exception, match="object"):
        _io.write_h5ad(adata, target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["t.h5ad"]


def test_doctor_lists_every_component(capsys):
    code = main(["doctor"])
    out = capsys.readouterr().out
    for name in [
        "Python",
        "scanpy",
        "anndata",
        "harmonypy",
        "rpy2",
        "R ",
        "R Seurat",
        "R SeuratObject",
        "R SingleCellExperiment",
        "R harmony",
        "R BLAS",
    ]:
        assert name in out, name
    assert code == 0  # the Python core is installed here


def test_rpy2_mismatch_is_explained():
    from harmonybridge.cli._doctor import rpy2_status

    found = rpy2_status("4.2.2")
    from harmonybridge._core.warnings import pkg_version, version_tuple

    if version_tuple(pkg_version("rpy2") or "0") >= (3, 6):
        assert not found.ok and "R_getVar" in found.note
    else:
        assert found.ok, found.note
    wrong = rpy2_status("4.5.1" if version_tuple(pkg_version("rpy2") or "0") < (3, 6) else "4.2.2")
    assert not wrong.ok
    assert "pip install" in wrong.note


def test_help_does_not_start_r():
    proc = subprocess.run(
        [sys.executable, "-c", "import sys, harmonybridge, harmonybridge.cli; print('rpy2' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stdout.strip() == "False"


def test_run_on_counts_keeps_x_as_given(tmp_path, caplog):
    """The PCA's own preprocessing works on a copy: X and layers come out as they went in (issue 19)."""
    adata = synthetic(n_genes=200)
    del adata.obsm["X_pca"]
    adata.layers["spliced"] = adata.X.copy()
    src, out = tmp_path / "counts.h5ad", tmp_path / "o.h5ad"
    hb.write(adata, src)
    with caplog.at_level("INFO", logger="harmonybridge"):
        assert main(["run", str(src), "--batch", "batch", "--out", str(out)]) == 0
    assert "X and layers are kept as given" in caplog.text
    got = hb.read(out)
    assert (got.X != adata.X).nnz == 0 and got.X.dtype == adata.X.dtype  # the counts, not log-normalized
    layers = {k for k in got.layers if k is not None}  # anndata 0.13 (Python 3.13) lists a None key
    assert layers == {"spliced"} and (got.layers["spliced"] != adata.X).nnz == 0
    assert got.obsm["X_pca"].shape[0] == 300 and got.varm["PCs"].shape == (200, got.obsm["X_pca"].shape[1])
    assert {"variance", "variance_ratio", "preprocess"} <= set(got.uns["pca"])
    assert {"log1p", "hvg", "harmonybridge_preprocess"}.isdisjoint(got.uns)
    assert list(got.var.columns) == list(adata.var.columns)


@pytest.mark.parametrize("extra", [[], ["--backend", "both", "--basis", "X_pca_harmony_py"]], ids=["one", "both"])
def test_run_refuses_key_added_equal_to_basis(small_h5ad, tmp_path, capsys, extra):
    out = tmp_path / "o.h5ad"
    key = "X_pca" if not extra else "X_pca_harmony"
    assert main(["run", str(small_h5ad), "--batch", "batch", "--key-added", key, "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err
    assert "error: --key-added " in err and "would overwrite the uncorrected embedding" in err
    assert "choose another --key-added" in err and err.count("\n") == 1
    assert not out.exists()


def test_run_rds_refuses_key_added_naming_the_basis_reduction(tmp_path, capsys):
    src, out = tmp_path / "in.rds", tmp_path / "o.rds"
    src.write_bytes(b"")  # refused before it is read
    assert main(["run", str(src), "--batch", "batch", "--key-added", "pca", "--out", str(out)]) == 2
    assert "--key-added pca is --basis X_pca" in capsys.readouterr().err
    assert not out.exists()
