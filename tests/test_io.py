"""Output files: atomic, and readable by whoever the umask says (or as the file they replace was)."""

from __future__ import annotations

import contextlib
import os
import stat

import pytest
from helpers import needs_r, synthetic

import harmonybridge as hb
from harmonybridge._core import files as _io
from harmonybridge.cli import main


@contextlib.contextmanager
def umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600), (0o027, 0o640)])
def test_new_output_follows_the_umask(tmp_path, mask, expected):
    with umask(mask):
        assert _io.current_umask() == mask
        hb.write(synthetic(), tmp_path / "a.h5ad")
        with _io.atomic_path(tmp_path / "report.html") as tmp:
            tmp.write_text("<p>report</p>")
    assert mode(tmp_path / "a.h5ad") == expected
    assert mode(tmp_path / "report.html") == expected


def test_replaced_output_keeps_its_mode(tmp_path):
    target = tmp_path / "a.h5ad"
    hb.write(synthetic(), target)
    os.chmod(target, 0o640)
    with umask(0o022):
        hb.write(synthetic(seed=1), target)
    assert mode(target) == 0o640
    os.chmod(target, 0o604)  # an odd mode the umask could not give
    with umask(0o077):
        hb.write(synthetic(seed=2), target)
    assert mode(target) == 0o604


def test_cli_outputs_follow_the_umask(tmp_path):
    src = tmp_path / "in.h5ad"
    hb.write(synthetic(), src)
    with umask(0o002):
        assert main(["-q", "run", str(src), "--batch", "batch", "--out", str(tmp_path / "out.h5ad")]) == 0
    assert mode(tmp_path / "out.h5ad") == 0o664


@needs_r("harmony")
def test_rds_outputs_follow_the_umask(tmp_path):
    src = tmp_path / "in.h5ad"
    hb.write(synthetic(n_genes=20), src)
    with umask(0o022):
        assert main(["-q", "convert", str(src), str(tmp_path / "a.rds")]) == 0
        assert main(["-q", "run", str(tmp_path / "a.rds"), "--batch", "batch", "--out", str(tmp_path / "b.rds")]) == 0
    assert mode(tmp_path / "a.rds") == 0o644
    assert mode(tmp_path / "b.rds") == 0o644
