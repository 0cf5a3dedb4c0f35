"""``harmonybridge run`` with a zarr store in or out: the dask engine, chunk by chunk."""

from __future__ import annotations

import argparse
from pathlib import Path

from harmonybridge.harmony import HarmonyParams, check_store_output, describe_store_run, run_store

STORE = ".zarr"


def is_store_run(args: argparse.Namespace) -> bool:
    """Whether ``harmonybridge run`` reads or writes a zarr store (then the dask engine runs chunked)."""
    return any(str(p or "").rstrip("/").lower().endswith(STORE) for p in (args.input, args.out))


def run_command(args: argparse.Namespace, params: dict) -> int:
    """``harmonybridge run`` with a zarr store in or out: the dask engine, chunk by chunk."""
    src = Path(args.input)
    if args.backend != "dask":
        msg = f"zarr stores are read and written in chunks by the dask engine: add --backend dask, not {args.backend}"
        raise ValueError(msg)
    if not src.exists():
        msg = f"input '{src}' does not exist"
        raise FileNotFoundError(msg)
    out = check_store_output(args.out or src.with_name(f"{src.name.rstrip('/').rsplit('.', 1)[0]}.harmony.zarr"), src)
    record = run_store(
        src,
        out,
        args.batch,
        HarmonyParams(**params),
        basis=args.basis,
        key_added=args.key_added,
        scheduler=args.scheduler,
        verbose=args.verbose,
    )
    print(describe_store_run(record))
    print(f"wrote {out}")
    return 0
