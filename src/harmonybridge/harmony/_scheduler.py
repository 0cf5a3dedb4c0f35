"""Which Dask scheduler runs the chunked engine, and shutting down what was started here.

- ``scheduler="tcp://host:8786"`` (``--scheduler``): an existing cluster (``dask scheduler`` and
  ``dask worker``, or dask-jobqueue's ``SLURMCluster``); the client made here is closed at the end,
  the cluster is left running.
- a ``distributed.Client``, or an active one (``distributed.default_client()``): used as it is.
- ``"threads"``: Dask's threaded scheduler in this process, ``ncores`` threads.
- ``"local"``: a ``distributed.LocalCluster`` on this machine, one single-threaded worker process
  per core, memory shared equally; started here and shut down at the end.
- ``None`` (default): an active client if there is one, else ``"threads"``. On one machine the
  threaded scheduler is the faster and leaner choice: the k-means block updates are sequential
  (each block's pass waits for the one before), so a LocalCluster's per-pass round trips and
  inter-process copies only add time and memory (measured on 200,000 cells, 2 cores: threads
  47.9 s and 379 MB for the whole process tree, a 2-worker LocalCluster 202.5 s and 649 MB), and
  memory is bounded by the chunks either way. ``"local"`` is there to try a cluster's
  dashboard and worker memory limits on one machine.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger("harmonybridge")

#: seconds to wait for a scheduler given by address
CONNECT_TIMEOUT = 10


@dataclass
class Scheduler:
    """The scheduler a run uses: ``client`` is None for the threaded scheduler."""

    kind: str  # "threads", "local cluster", "address", "client"
    client: Any = None
    address: str = ""
    dashboard: str = ""
    n_workers: int = 0
    threads: int = 0
    started: list = field(default_factory=list)  # what this module started (closed at exit)

    def record(self) -> dict[str, Any]:
        """What ``uns['harmony']`` keeps about the scheduler (strings and numbers only)."""
        return {
            "kind": self.kind,
            "address": self.address,
            "dashboard": self.dashboard,
            "workers": int(self.n_workers),
            "threads": int(self.threads),
        }

    def describe(self) -> str:
        if self.client is None:
            return f"dask threaded scheduler ({self.threads} threads)"
        return f"dask distributed {self.kind} {self.address} ({self.n_workers} workers, {self.threads} threads)"


def _bad_address(address: str, err: BaseException) -> OSError:
    msg = (
        f"cannot reach the Dask scheduler at {address!r} ({type(err).__name__}: {err}); start one there with "
        f"`dask scheduler` and workers with `dask worker {address}` (or a dask-jobqueue cluster), "
        "check host and port, or leave out --scheduler / scheduler= to run on this machine"
    )
    return OSError(msg)


def _from_client(kind: str, client: Any) -> Scheduler:
    info = client.scheduler_info()
    workers = info.get("workers", {})
    threads = sum(int(w.get("nthreads", 0)) for w in workers.values())
    return Scheduler(
        kind=kind,
        client=client,
        address=str(client.scheduler.address),
        dashboard=str(client.dashboard_link or ""),
        n_workers=len(workers),
        threads=threads,
    )


def _active_client() -> Any:
    try:
        from distributed import default_client
    except ImportError:  # pragma: no cover - distributed is a dependency
        return None
    try:
        return default_client()
    except ValueError:
        return None


def _restore_environ(environ: dict[str, str]) -> None:
    """Give the caller's process its environment back: starting a LocalCluster's Nannies leaves
    OMP_NUM_THREADS=1, OPENBLAS_NUM_THREADS=1 and more in it, which later R and BLAS calls read."""
    for key in set(os.environ) - set(environ):
        del os.environ[key]
    os.environ.update(environ)


def _local_cluster(ncores: int) -> tuple[Any, Any]:
    """A LocalCluster sized to this machine: one single-threaded worker process per core."""
    import psutil
    from distributed import Client, LocalCluster

    n_workers = max(1, ncores)
    memory = int(psutil.virtual_memory().total * 0.8 / n_workers)
    cluster = LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",  # any free port: several runs may share a machine
        memory_limit=memory,
        silence_logs=logging.ERROR,
    )
    return cluster, Client(cluster)


def _connect(address: str) -> Any:
    from distributed import Client

    try:
        return Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as err:
        raise _bad_address(address, err) from err


def check_scheduler(scheduler: Any) -> None:
    """Refuse a scheduler argument that cannot be one, before any work."""
    if scheduler is None or not isinstance(scheduler, str):
        if scheduler is not None and type(scheduler).__name__ != "Client":
            msg = (
                "scheduler must be an address like 'tcp://host:8786', 'threads', 'local' or a distributed.Client, "
                f"got {scheduler!r}"
            )
            raise TypeError(msg)
        return
    if scheduler in ("threads", "local"):
        return
    if "://" not in scheduler and ":" not in scheduler:
        msg = (
            f"scheduler {scheduler!r} is not an address; give 'tcp://HOST:PORT' (what `dask scheduler` prints), "
            "'threads' or 'local'"
        )
        raise ValueError(msg)


@contextlib.contextmanager
def use_scheduler(scheduler: Any = None, *, ncores: int) -> Iterator[Scheduler]:
    """Resolve ``scheduler`` (see the module's text), yield it, and shut down what was started here.

    While the block runs, a distributed client is Dask's default, so ``dask.compute`` uses it.
    """
    check_scheduler(scheduler)
    with contextlib.ExitStack() as stack:
        if scheduler is None:
            scheduler = _active_client() or "threads"
        if scheduler == "threads":
            import dask

            stack.enter_context(dask.config.set(scheduler="threads", num_workers=ncores))
            yield Scheduler(kind="threads", threads=ncores)
            return
        if scheduler == "local":
            logger.info("starting a local Dask cluster: %d worker processes, 1 thread each", ncores)
            environ = dict(os.environ)  # distributed's Nanny sets OMP_NUM_THREADS=1 etc. in this process
            stack.callback(_restore_environ, environ)
            cluster, client = _local_cluster(ncores)
            stack.callback(cluster.close)
            stack.callback(client.close)
            sched = _from_client("local cluster", client)
        elif isinstance(scheduler, str):
            client = _connect(scheduler)
            stack.callback(client.close)
            sched = _from_client("address", client)
            if sched.n_workers == 0:
                msg = f"the Dask scheduler at {scheduler!r} has no workers; start some with `dask worker {scheduler}`"
                raise RuntimeError(msg)
        else:
            sched = _from_client("client", scheduler)
        stack.enter_context(sched.client.as_current())
        logger.info("Dask dashboard: %s (%s)", sched.dashboard or "none", sched.describe())
        yield sched
