"""An .h5ad is data: the R objects carried in uns['seurat']['r'] never run code on the way to R.

Payloads are made by R itself (tests/r/carry_payloads.R): the planted promise of CVE-2024-27322,
a function, an environment with an active binding, and byte code; each writes a marker file
when its code runs. Converting an .h5ad that carries them (``harmonybridge convert x.h5ad y.rds``,
a separate process as users run it) must leave no marker, drop each suspect slot with one line
naming it, and still write the rest. Real Seurat objects' carried slots stay plain data.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from helpers import R_SCRIPTS, needs_r, rscript, synthetic

import harmonybridge as hb
from harmonybridge import ConversionWarning
from harmonybridge.convert._rserial import safe_carry, unsafe_item

PAYLOADS = ["promise", "closure", "active", "bytecode"]
#: Which carried record each payload is planted in (each one restores a different slot).
PLANTED = {"promise": "commands", "closure": "misc", "active": "tools", "bytecode": "reductions"}
SLOT = {"commands": "@commands", "misc": "Misc", "tools": "@tools", "reductions": "reduction misc"}


@pytest.fixture(scope="module")
def payloads(tmp_path_factory) -> tuple[dict[str, bytes], os.PathLike]:
    folder = tmp_path_factory.mktemp("payloads")
    marker = folder / "MARKER"
    rscript(str(R_SCRIPTS / "carry_payloads.R"), str(folder), str(marker))
    assert not marker.exists()
    return {p: (folder / f"{p}.bin").read_bytes() for p in PAYLOADS}, marker


def _planted(payloads: dict[str, bytes], names: list[str]):
    adata = synthetic(n_cells=40, n_genes=12)
    carry = {PLANTED[n]: np.frombuffer(payloads[n], dtype=np.uint8) for n in names}
    adata.uns["seurat"] = {"r": carry}
    return adata


@needs_r("SeuratObject")
@pytest.mark.parametrize("payload", PAYLOADS)
def test_check_refuses_each_payload(payloads, payload):
    data, _ = payloads
    why = unsafe_item(data[payload])
    assert why is not None
    log = hb.ConversionLog("test")
    assert safe_carry({PLANTED[payload]: data[payload]}, log) == {}
    (entry,) = log.entries
    assert entry.action == "dropped" and entry.where == SLOT[PLANTED[payload]] and "nothing ran" in entry.reason


@needs_r("SeuratObject")
def test_convert_h5ad_with_planted_code_runs_nothing(payloads, tmp_path):
    data, marker = payloads
    src, out = tmp_path / "x.h5ad", tmp_path / "y.rds"
    hb.write(_planted(data, PAYLOADS), src)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.run(
        [sys.executable, "-m", "harmonybridge.cli", "convert", str(src), str(out)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=600,
        cwd=tmp_path,
    )
    assert not marker.exists(), "a carried payload ran"
    assert proc.returncode == 0, proc.stderr
    for name in PAYLOADS:
        assert f"dropped  {SLOT[PLANTED[name]]}:" in proc.stdout, (name, proc.stdout)
    # the output is written, and reading it back (R's own readRDS of what we wrote) runs nothing either
    back = hb.read_rds(out)
    assert back.n_obs == 40
    assert not marker.exists()


@needs_r("SeuratObject")
@pytest.mark.parametrize("payload", PAYLOADS)
def test_to_seurat_drops_the_slot_and_logs_one_line(payloads, payload):
    data, marker = payloads
    adata = _planted(data, [payload])
    before = adata.uns["seurat"]["r"][PLANTED[payload]].copy()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, log = hb.to_seurat(adata, return_log=True)
    assert not marker.exists()
    dropped = [e for e in log.entries if e.where == SLOT[PLANTED[payload]]]
    assert len(dropped) == 1 and dropped[0].action == "dropped"
    assert any(issubclass(w.category, ConversionWarning) and SLOT[PLANTED[payload]] in str(w.message) for w in caught)
    np.testing.assert_array_equal(adata.uns["seurat"]["r"][PLANTED[payload]], before)  # the caller's object


def test_check_on_damaged_streams():
    assert unsafe_item(b"") is not None
    assert "XDR" in unsafe_item(b"A\n1\n")
    # NULL, written by R 4.x as version 3 (header, then NILVALUE_SXP)
    null = b"X\n" + (3).to_bytes(4, "big") + (0x040202).to_bytes(4, "big") + (0x030500).to_bytes(4, "big")
    null += (5).to_bytes(4, "big") + b"UTF-8" + (254).to_bytes(4, "big")
    assert unsafe_item(null) is None
    assert "ends early" in unsafe_item(null[:-2])
    assert "after the serialized object" in unsafe_item(null + b"\0")


@needs_r("Seurat")
@pytest.mark.parametrize("name", ["standard", "sct"])
def test_real_objects_carry_only_data(seurat_objects, name):
    """Seurat-made objects (FindVariableFeatures keeps functions in @commands) carry no refused item."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConversionWarning)
        adata = hb.read_rds(seurat_objects / f"{name}.rds")
    carried = adata.uns["seurat"]["r"]
    assert {"commands", "reductions", "misc"} <= set(carried)
    assert {k: unsafe_item(v.tobytes()) for k, v in carried.items()} == dict.fromkeys(carried)
