"""Writes that survive a full disk and a crash: one line and exit 2 on a full disk (a real tmpfs),
fsync before the rename, and the hidden .part files of killed runs cleaned (issue 19)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from helpers import needs_r, synthetic

import harmonybridge as hb
from harmonybridge._core import durable as _durable
from harmonybridge._core import files as _io

EXE = [sys.executable, "-m", "harmonybridge.cli"]


@pytest.fixture
def full_disk(tmp_path):
    """A 1 MiB tmpfs (needs root and a kernel that lets this process mount; else skipped with the reason)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if proc.returncode:
        pytest.skip(f"cannot mount a 1 MiB tmpfs here ({proc.stderr.strip() or proc.returncode}); needs root")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.mark.parametrize(
    "out", ["o.h5ad", pytest.param("o.rds", marks=needs_r("SeuratObject"))], ids=["run-h5ad", "convert-rds"]
)
def test_full_disk_is_one_line_and_exit_2(full_disk, tmp_path, out):
    src = tmp_path / "big.h5ad"
    hb.write(synthetic(n_cells=3000, n_genes=500), src)  # 2.7 MB: more than the disk holds
    assert src.stat().st_size > 2**21
    args = (
        ["run", src, "--batch", "batch", "--out", full_disk / out]
        if out.endswith("h5ad")
        else ["convert", src, full_disk / out]
    )
    free = os.statvfs(full_disk).f_bavail * os.statvfs(full_disk).f_frsize
    (full_disk / "filler").write_bytes(b"\0" * max(free - 128 * 1024, 0))  # 128 KiB left, whatever R compresses to
    proc = subprocess.run([*EXE, "-q", *map(str, args)], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-3000:])  # not 139 (a segfault in HDF5)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr[-3000:]
    assert lines[0].startswith("harmonybridge: error: ") and str(full_disk / out) in lines[0]
    assert "no space left on device" in lines[0] or "error writing to connection" in lines[0]
    assert os.listdir(full_disk) == ["filler"]  # no partial file, hidden or not


def test_h5ad_api_full_disk_raises_oserror_and_leaves_nothing(full_disk):
    adata = synthetic(n_cells=3000, n_genes=500)
    with pytest.raises(OSError, match="No space left on device") as info:
        hb.write(adata, full_disk / "o.h5ad")
    assert info.value.filename == str(full_disk / "o.h5ad")
    assert os.listdir(full_disk) == []
    small = synthetic(n_cells=50)  # the process (and HDF5) still work afterwards
    hb.write(small, full_disk / "s.h5ad")
    assert hb.read(full_disk / "s.h5ad").n_obs == 50


def test_fsync_before_the_rename_and_of_the_folder(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.path.realpath(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    def replace(a, b):
        events.append(("replace", str(b)))
        return real_replace(a, b)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setenv("HARMONYBRIDGE_NO_FORK", "1")  # the events of this process
    out = tmp_path / "o.h5ad"
    hb.write(synthetic(), out)
    kinds = [e[0] for e in events]
    i = kinds.index("replace")
    assert "fsync" in kinds[:i] and ".part.h5ad" in dict(events[:i])["fsync"]  # the data, before the name
    assert ("fsync", str(tmp_path)) in events[i + 1 :]  # the rename itself


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def test_stale_parts_of_killed_runs_are_cleaned(tmp_path):
    out = tmp_path / "o.h5ad"
    old = time.time() - 2 * _durable.STALE_SECONDS
    dead, alive = _dead_pid(), os.getppid()
    files = {
        "stale": tmp_path / f".o.h5ad.hb-{dead}-x1y2.part.h5ad",  # ours, writer gone, untouched for 30 min
        "fresh": tmp_path / f".o.h5ad.hb-{dead}-a1b2.part.h5ad",  # writer gone but modified just now
        "alive": tmp_path / f".o.h5ad.hb-{alive}-c3d4.part.h5ad",  # its writer still runs
        "other target": tmp_path / f".p.h5ad.hb-{dead}-e5f6.part.h5ad",
        "not ours": tmp_path / ".o.h5ad.k9z8.part.h5ad",
    }
    for name, f in files.items():
        f.write_bytes(b"partial")
        if name != "fresh":
            os.utime(f, (old, old))
    hb.write(synthetic(), out)
    assert hb.read(out).n_obs == 300
    assert not files["stale"].exists()
    assert all(f.exists() for name, f in files.items() if name != "stale")


def test_own_parts_are_named_with_the_writer_pid(tmp_path):
    with _io.atomic_path(tmp_path / "r.json") as tmp:
        assert tmp.name.startswith(f".r.json.hb-{os.getpid()}-") and tmp.name.endswith(".part.json")
        tmp.write_text("{}")
    assert (tmp_path / "r.json").read_text() == "{}"
