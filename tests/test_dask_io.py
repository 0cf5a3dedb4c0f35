"""The dask engine's input and output: zarr stores and .h5ad files in chunks, the output store written
atomically, the scheduler (threads, or a real distributed cluster over TCP on localhost), and the CLI."""

from __future__ import annotations

import os
import socket

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from harmonybridge import HarmonyParams, run_harmony
from harmonybridge.cli import main
from harmonybridge.harmony._chunked import open_cells
from harmonybridge.harmony._store import run_store, write_store

pytestmark = pytest.mark.filterwarnings("ignore:Writing zarr v2 data:UserWarning")

N, CHUNK = 600, 200
#: small and quick; the same for every run so the outputs can be compared bit for bit
PARAMS = {"nclust": 8, "max_iter": 3, "random_state": 3, "chunk_cells": CHUNK}
FLAGS = ["--nclust", "8", "--max-iter", "3", "--seed", "3", "--chunk-cells", str(CHUNK)]


def _cells(n: int = N) -> ad.AnnData:
    rng = np.random.default_rng(0)
    batch = rng.integers(0, 3, n)
    Z = (rng.normal(size=(n, 6)) + 3 * batch[:, None]).astype(np.float32)
    X = sp.random(n, 30, density=0.2, format="csr", random_state=1, dtype=np.float32)
    obs = pd.DataFrame(
        {
            "sample": pd.Categorical(np.array(["s1", "s2", "s3"])[batch]),
            "depth": rng.integers(100, 200, n),
        },
        index=[f"cell{i}" for i in range(n)],
    )
    adata = ad.AnnData(X, obs=obs, var=pd.DataFrame(index=[f"g{j}" for j in range(30)]))
    adata.obsm["X_pca"] = Z
    adata.layers["counts"] = X.copy()
    adata.uns["note"] = {"kept": "yes"}
    return adata


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stores")
    adata = _cells()
    adata.write_zarr(folder / "cells.zarr")
    adata.write_h5ad(folder / "cells.h5ad")
    return adata, folder


@pytest.fixture(scope="module")
def in_memory(stores):
    """The in-memory dask run (threads): what every chunked path must equal bit for bit."""
    adata = stores[0].copy()
    run_harmony(adata, "sample", backend="dask", scheduler="threads", **PARAMS)
    return adata


def test_open_cells_reads_zarr_and_h5ad_lazily_in_chunks(stores):
    import dask.array as da

    adata, folder = stores
    for source in (folder / "cells.zarr", folder / "cells.h5ad", adata):
        cells = open_cells(source, ["sample"], "X_pca", CHUNK)
        assert isinstance(cells.Z, da.Array) and cells.Z.chunks[0] == (CHUNK,) * (N // CHUNK)
        assert cells.codes.chunks[0] == cells.Z.chunks[0]
        np.testing.assert_array_equal(cells.Z.compute(), adata.obsm["X_pca"])
        np.testing.assert_array_equal(cells.codes.compute()[:, 0], adata.obs["sample"].cat.codes)
        assert cells.n_levels == [3]
    # the embedding is read from the file chunk by chunk, not held in the graph
    graph = open_cells(folder / "cells.h5ad", ["sample"], "X_pca", CHUNK).Z.__dask_graph__()
    assert all(not isinstance(v, np.ndarray) or v.size < 100 for v in graph.values())


def test_a_numeric_batch_column_is_factorized(stores):
    adata, folder = stores
    cells = open_cells(folder / "cells.zarr", ["depth"], "X_pca", CHUNK)
    codes = cells.codes.compute()[:, 0]
    assert cells.n_levels == [adata.obs["depth"].nunique()]
    np.testing.assert_array_equal(codes, pd.Categorical(adata.obs["depth"]).codes)


def test_zarr_in_zarr_out_by_the_command(stores, in_memory, tmp_path, capsys):
    adata, folder = stores
    out = tmp_path / "new" / "corrected.zarr"
    cmd = ["-q", "run", str(folder / "cells.zarr"), "--batch", "sample", "--backend", "dask", "--out", str(out)]
    assert main([*cmd, "--scheduler", "threads", *FLAGS]) == 0
    assert "wrote" in capsys.readouterr().out
    back = ad.read_zarr(out)
    pd.testing.assert_frame_equal(back.obs, adata.obs)
    pd.testing.assert_frame_equal(back.var, adata.var)
    assert (back.X != adata.X).nnz == 0 and (back.layers["counts"] != adata.layers["counts"]).nnz == 0
    np.testing.assert_array_equal(back.obsm["X_pca"], adata.obsm["X_pca"])
    corrected = back.obsm["X_pca_harmony"]
    assert corrected.shape == adata.obsm["X_pca"].shape
    np.testing.assert_array_equal(corrected, in_memory.obsm["X_pca_harmony"])  # same cells, same order
    rec = back.uns["harmony"]
    assert rec["engine"] == "dask" and rec["backend"] == "dask" and list(rec["batch_key"]) == ["sample"]
    assert rec["chunking"]["chunk_cells"] == CHUNK and rec["chunking"]["n_chunks"] == N // CHUNK
    assert rec["scheduler"]["kind"] == "threads" and rec["n_iter"] == len(rec["kmeans_rounds"])
    assert back.uns["note"]["kept"] == "yes"
    assert sorted(os.listdir(out.parent)) == ["corrected.zarr"]  # no temporary store, no scratch left


def test_h5ad_in_zarr_out_equals_the_zarr_run(stores, in_memory, tmp_path):
    adata, folder = stores
    out = tmp_path / "from_h5ad.zarr"
    record = run_store(folder / "cells.h5ad", out, "sample", HarmonyParams(**PARAMS), scheduler="threads")
    back = ad.read_zarr(out)
    np.testing.assert_array_equal(back.obsm["X_pca_harmony"], in_memory.obsm["X_pca_harmony"])
    assert (back.X != adata.X).nnz == 0
    pd.testing.assert_frame_equal(back.obs, adata.obs)
    assert record["input"] == str(folder / "cells.h5ad")


def test_in_memory_dask_run_records_scheduler_and_chunking(in_memory):
    rec = in_memory.uns["harmony"]
    assert rec["scheduler"]["kind"] == "threads"
    assert rec["chunking"] == {"chunk_cells": CHUNK, "n_chunks": N // CHUNK}


def test_output_is_atomic_after_an_error(stores, tmp_path):
    """A chunk that fails while the output is written leaves neither a partial store nor temporary
    files, and an older store at that path is left as it was."""
    import dask.array as da

    _, folder = stores
    cells = open_cells(folder / "cells.zarr", ["sample"], "X_pca", CHUNK)

    def fail_last(block, block_info=None):
        if block_info[0]["chunk-location"][0] == N // CHUNK - 1:
            raise RuntimeError("worker lost")
        return block

    broken = da.map_blocks(fail_last, cells.Z, dtype=cells.Z.dtype)
    out = tmp_path / "new" / "out.zarr"
    with pytest.raises(RuntimeError, match="worker lost"):
        write_store(cells, broken, out, {"engine": "dask"}, key_added="X_pca_harmony")
    assert not (tmp_path / "new").exists()  # the folder it created is gone too
    old = tmp_path / "old.zarr"
    _cells(10).write_zarr(old)
    before = sorted(p.relative_to(old) for p in old.rglob("*"))
    with pytest.raises(RuntimeError, match="worker lost"):
        write_store(cells, broken, old, {"engine": "dask"}, key_added="X_pca_harmony")
    assert sorted(p.relative_to(old) for p in old.rglob("*")) == before
    assert ad.read_zarr(old).n_obs == 10
    assert sorted(os.listdir(tmp_path)) == ["old.zarr"]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--batch", "donor"], r"--batch donor: 'donor' is not a column of .*columns: \['sample', 'depth'\]"),
        (["--batch", "sample", "--basis", "X_umap"], r"--basis X_umap: .*zarr' has no obsm\['X_umap'\]; available"),
        (["--batch", "sample", "--backend", "python"], r"add --backend dask, not python"),
        (["--batch", "sample", "--scheduler", "nowhere"], r"'nowhere' is not an address; give 'tcp://HOST:PORT'"),
    ],
)  # fmt: skip
def test_clear_errors(stores, tmp_path, capsys, args, error):
    import re

    _, folder = stores
    argv = ["run", str(folder / "cells.zarr"), "--backend", "dask", "--out", str(tmp_path / "o.zarr"), *args]
    assert main(argv) == 2
    assert re.search(error, capsys.readouterr().err)
    assert not (tmp_path / "o.zarr").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_scheduler_names_the_fix(stores, tmp_path, capsys):
    _, folder = stores
    address = f"tcp://127.0.0.1:{_free_port()}"
    argv = [
        "run",
        str(folder / "cells.zarr"),
        "--batch",
        "sample",
        "--backend",
        "dask",
        "--out",
        str(tmp_path / "o.zarr"),
    ]
    assert main([*argv, "--scheduler", address, *FLAGS]) == 2
    err = capsys.readouterr().err
    assert f"cannot reach the Dask scheduler at '{address}'" in err and f"dask worker {address}" in err
    assert not (tmp_path / "o.zarr").exists()


def test_a_real_two_worker_tcp_cluster_equals_the_single_process_run(stores, in_memory, tmp_path, capsys, caplog):
    """A distributed scheduler and two worker processes on localhost over TCP, given by address."""
    from distributed import LocalCluster

    _, folder = stores
    out = tmp_path / "cluster.zarr"
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0"
    ) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tcp://127.0.0.1:")
        argv = ["run", str(folder / "cells.zarr"), "--batch", "sample", "--backend", "dask", "--out", str(out)]
        with caplog.at_level("INFO", logger="harmonybridge"):
            assert main([*argv, "--scheduler", address, *FLAGS]) == 0
        assert len(cluster.workers) == 2  # the cluster is left running: it was not started here
    assert "Dask dashboard: http://127.0.0.1:" in caplog.text
    back = ad.read_zarr(out)
    np.testing.assert_array_equal(back.obsm["X_pca_harmony"], in_memory.obsm["X_pca_harmony"])
    rec = back.uns["harmony"]["scheduler"]
    assert rec["kind"] == "address" and rec["address"] == address and rec["workers"] == 2


def test_scheduler_is_for_dask_only(stores):
    with pytest.raises(ValueError, match="scheduler .* is for the dask backend only"):
        run_harmony(stores[0].copy(), "sample", scheduler="threads")


def test_readme_local_cluster_commands(stores, in_memory):
    """README's "Past one machine": `dask scheduler` and `dask worker --nworkers 2` started by hand,
    then the Python API given the address: the same output as the threaded run."""
    import subprocess
    import sys
    import time

    from distributed import Client

    address = f"tcp://127.0.0.1:{_free_port()}"
    host, port = address.removeprefix("tcp://").split(":")
    dask_cli = [sys.executable, "-m", "dask"]
    started = [
        subprocess.Popen([*dask_cli, "scheduler", "--host", host, "--port", port, "--dashboard-address", ":0"]),
        subprocess.Popen([*dask_cli, "worker", address, "--nworkers", "2", "--nthreads", "1", "--no-dashboard"]),
    ]
    try:
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        adata = stores[0].copy()
        run_harmony(adata, "sample", backend="dask", scheduler=address, **PARAMS)
    finally:
        for proc in reversed(started):
            proc.terminate()
        deadline = time.monotonic() + 30
        for proc in started:
            proc.wait(timeout=max(1, deadline - time.monotonic()))
    np.testing.assert_array_equal(adata.obsm["X_pca_harmony"], in_memory.obsm["X_pca_harmony"])
    rec = adata.uns["harmony"]["scheduler"]
    assert rec["kind"] == "address" and rec["address"] == address and rec["workers"] == 2


def test_default_is_threads_and_local_starts_a_cluster_sized_to_ncores_then_shuts_it_down():
    import dask
    import psutil

    from harmonybridge.harmony._scheduler import use_scheduler

    with use_scheduler(None, ncores=2) as default:
        assert default.kind == "threads" and default.client is None and dask.config.get("scheduler") == "threads"
        assert dask.config.get("num_workers") == 2
    with use_scheduler("local", ncores=2) as sched:
        assert sched.kind == "local cluster" and sched.n_workers == 2 and sched.threads == 2
        assert sched.dashboard.startswith("http://127.0.0.1:")
        # the worker processes (multiprocessing's resource tracker outlives them, by design)
        workers = [p for p in psutil.Process().children(recursive=True) if "spawn_main" in " ".join(p.cmdline())]
        assert dask.array.ones(10, chunks=5).sum().compute() == 10  # through the cluster
        with use_scheduler(None, ncores=1) as inner:  # an active client is used as it is
            assert inner.kind == "client" and inner.client is sched.client
    assert sched.client.status == "closed"
    assert len(workers) >= 2 and not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in workers)


def test_nan_in_the_embedding_is_refused_before_any_output(tmp_path):
    adata = _cells(60)
    adata.obsm["X_pca"][[3, 40], 1] = np.nan
    adata.write_zarr(tmp_path / "nan.zarr")
    out = tmp_path / "new" / "o.zarr"
    with pytest.raises(ValueError, match=r"obsm\['X_pca'\] of .*nan.zarr' has NaN or inf in 2 cells"):
        run_store(tmp_path / "nan.zarr", out, "sample", HarmonyParams(nclust=3), scheduler="threads")
    assert not (tmp_path / "new").exists()


@pytest.mark.filterwarnings("ignore:zarr v3 autosharding:UserWarning")
@pytest.mark.filterwarnings("ignore:Consolidated metadata is currently not part")  # anndata writing v3
@pytest.mark.parametrize("source", ["zarr v3", "AnnData"])
def test_a_zarr_v3_store_or_an_anndata_into_a_store(stores, in_memory, tmp_path, source):
    adata = stores[0]
    src = adata
    if source == "zarr v3":
        src = tmp_path / "v3.zarr"
        with ad.settings.override(zarr_write_format=3):
            adata.write_zarr(src)
    out = tmp_path / "out.zarr"
    run_store(src, out, "sample", HarmonyParams(**PARAMS), scheduler="threads")
    # the output keeps the input store's format; an AnnData gets anndata's default (v3 from anndata 0.13)
    v3 = source == "zarr v3" or (source == "AnnData" and int(ad.settings.zarr_write_format) == 3)
    assert (out / "zarr.json").exists() == v3
    back = ad.read_zarr(out)
    np.testing.assert_array_equal(back.obsm["X_pca_harmony"], in_memory.obsm["X_pca_harmony"])
    assert (back.layers["counts"] != adata.layers["counts"]).nnz == 0
    pd.testing.assert_frame_equal(back.obs, adata.obs)
    assert "X_pca_harmony" not in adata.obsm  # the caller's AnnData is not written to
