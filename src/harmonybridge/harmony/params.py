"""One parameter object for both Harmony engines.

Defaults have drifted between Harmony releases (harmonypy before 2.0 ran 20 k-means
rounds with epsilon 1e-5; harmonypy 2.1 and R harmony 2.0.4 use 4 and 1e-3), so every
value is resolved here and passed explicitly to whichever engine runs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from numbers import Integral, Real
from typing import Any

import numpy as np

#: Python name -> R name. Top-level arguments of ``harmony::RunHarmony``.
R_ARGS = {
    "theta": "theta",
    "sigma": "sigma",
    "lamb": "lambda",
    "nclust": "nclust",
    "max_iter": "max_iter",
    "ncores": "ncores",
}
#: Python name -> R name inside ``harmony::harmony_options()``.
R_OPTIONS = {
    "alpha": "alpha",
    "tau": "tau",
    "block_size": "block.size",
    "max_iter_kmeans": "max.iter.cluster",
    "epsilon_cluster": "epsilon.cluster",
    "epsilon_harmony": "epsilon.harmony",
    "batch_prop_cutoff": "batch.prop.cutoff",
}
#: Python name -> harmonypy's keyword.
HARMONYPY_ARGS = {
    "theta": "theta",
    "sigma": "sigma",
    "lamb": "lamb",
    "nclust": "nclust",
    "tau": "tau",
    "block_size": "block_size",
    "max_iter": "max_iter_harmony",
    "max_iter_kmeans": "max_iter_kmeans",
    "epsilon_cluster": "epsilon_cluster",
    "epsilon_harmony": "epsilon_harmony",
    "alpha": "alpha",
    "batch_prop_cutoff": "batch_prop_cutoff",
    "ncores": "ncores",
    "random_state": "random_state",
}

#: harmonybridge's name -> HarmonyIntegration's argument (the ones it passes on to harmony).
INTEGRATION_ARGS = {
    "theta": "theta",
    "lamb": "lambda",
    "sigma": "sigma",
    "nclust": "nclust",
    "tau": "tau",
    "block_size": "block.size",
    "max_iter": "max.iter.harmony",
    "max_iter_kmeans": "max.iter.cluster",
    "epsilon_cluster": "epsilon.cluster",
    "epsilon_harmony": "epsilon.harmony",
}
#: Python name -> the command line's help text (a default of None is explained in the text).
HELP = {
    "theta": "diversity penalty, one or one per batch covariate (default 2)",
    "sigma": "soft k-means bandwidth",
    "lamb": "ridge penalty, one or one per covariate (default: estimated from alpha)",
    "nclust": "clusters (default min(cells/30, 100))",
    "tau": "protection against over-correction of small batches",
    "block_size": "share of cells updated per block",
    "max_iter": "Harmony iterations at most",
    "max_iter_kmeans": "k-means rounds per iteration",
    "epsilon_cluster": "k-means convergence",
    "epsilon_harmony": "Harmony convergence",
    "alpha": "lambda estimation",
    "batch_prop_cutoff": "in each cluster, correct only batches whose mean membership exceeds this",
    "ncores": "threads (default: all CPUs)",
    "random_state": "seed",
    "chunk_cells": "cells per chunk of the dask engine (default: automatic, 100,000)",
}


def cli_flag(name: str) -> str:
    """A parameter's command-line flag: ``--seed`` for random_state, else the name with ``-`` for ``_``."""
    return "--seed" if name == "random_state" else "--" + name.replace("_", "-")


#: parameters only one engine reads (the others ignore them): name -> engine
ENGINE_ONLY = {"chunk_cells": "dask"}

_INT32_MAX = 2**31 - 1


def _say(name: str, value: Any = None) -> str:
    """A parameter as the caller wrote it: ``--seed`` on the command line, ``random_state`` in Python."""
    from harmonybridge._core.checks import voice

    if voice().kind == "cli":
        flag = cli_flag(name)
        return flag if value is None else f"{flag} {value}"
    return name if value is None else f"{name}={value}"


def _per_covariate(name: str, value: Any, *, positive: bool) -> float | tuple[float, ...] | None:
    if value is None:
        return None
    values = [value] if isinstance(value, Real) else value
    if isinstance(values, np.ndarray):
        values = values.tolist()
    if not isinstance(values, Sequence) or isinstance(values, str) or not values:
        msg = f"{_say(name)} must be a number or one number per batch covariate, got {value!r}"
        raise TypeError(msg)
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, Real) or not np.isfinite(v):
            msg = f"{_say(name)} must hold finite numbers, got {value!r}"
            raise ValueError(msg)
        if (positive and v <= 0) or v < 0:
            bound = "> 0" if positive else ">= 0"
            msg = f"{_say(name)} must be {bound}, got {value!r}"
            raise ValueError(msg)
        out.append(float(v))
    return out[0] if isinstance(value, Real) else tuple(out)


def _number(name: str, value: Any, *, low: float, high: float = np.inf, low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not np.isfinite(value):
        msg = f"{_say(name)} must be a finite number, got {value!r}"
        raise ValueError(msg)
    if value < low or (low_open and value == low) or value > high:
        left = "(" if low_open else "["
        msg = f"{_say(name)} must be in {left}{low}, {high}], got {value!r}"
        raise ValueError(msg)
    return float(value)


def _integer(name: str, value: Any, *, low: int, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, Integral):
        msg = f"{_say(name)} must be an integer, got {value!r}"
        raise TypeError(msg)
    if not low <= value <= _INT32_MAX:
        msg = f"{_say(name)} must be between {low} and {_INT32_MAX}, got {value!r}"
        raise ValueError(msg)
    return int(value)


@dataclass(frozen=True)
class HarmonyParams:
    """Harmony's settings, shared by the Python (harmonypy) and R (harmony) engines.

    ``theta`` and ``lamb`` take one number for all covariates or one per covariate
    (in the order of ``batch_key``). ``lamb=None`` lets both engines estimate lambda
    from ``alpha``. ``theta=None``, ``nclust=None`` and ``ncores=None`` are resolved
    by :meth:`resolve` to 2 per covariate, ``min(round(n_cells / 30), 100)`` and the
    number of CPUs this process may use.

    ``batch_prop_cutoff``: in each cluster, a batch is corrected only when its cells' mean
    membership of that cluster exceeds this value (both engines' default is 1e-5, i.e. every
    batch present); raising it leaves batches that barely reach a cluster uncorrected there.

    ``chunk_cells``: cells per chunk of the ``dask`` engine (None: automatic, 100,000); its memory
    is set by this, not by the number of cells. The other engines ignore it.
    """

    theta: float | tuple[float, ...] | None = None
    sigma: float = 0.1
    lamb: float | tuple[float, ...] | None = None
    nclust: int | None = None
    tau: float = 0.0
    block_size: float = 0.05
    max_iter: int = 10
    max_iter_kmeans: int = 4
    epsilon_cluster: float = 1e-3
    epsilon_harmony: float = 1e-2
    alpha: float = 0.2
    batch_prop_cutoff: float = 1e-5
    ncores: int | None = None
    random_state: int = 0
    chunk_cells: int | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "theta", _per_covariate("theta", self.theta, positive=False))
        set_(self, "lamb", _per_covariate("lamb", self.lamb, positive=True))
        set_(self, "sigma", _number("sigma", self.sigma, low=0, low_open=True))
        set_(self, "nclust", _integer("nclust", self.nclust, low=1, optional=True))
        set_(self, "tau", _number("tau", self.tau, low=0))
        set_(self, "block_size", _number("block_size", self.block_size, low=0, high=1, low_open=True))
        set_(self, "max_iter", _integer("max_iter", self.max_iter, low=1))
        set_(self, "max_iter_kmeans", _integer("max_iter_kmeans", self.max_iter_kmeans, low=1))
        set_(self, "epsilon_cluster", _number("epsilon_cluster", self.epsilon_cluster, low=0, low_open=True))
        set_(self, "epsilon_harmony", _number("epsilon_harmony", self.epsilon_harmony, low=0, low_open=True))
        set_(self, "alpha", _number("alpha", self.alpha, low=0, high=1, low_open=True))
        set_(self, "batch_prop_cutoff", _number("batch_prop_cutoff", self.batch_prop_cutoff, low=0, high=1))
        set_(self, "ncores", _integer("ncores", self.ncores, low=1, optional=True))
        set_(self, "random_state", _integer("random_state", self.random_state, low=0))
        set_(self, "chunk_cells", _integer("chunk_cells", self.chunk_cells, low=1, optional=True))

    @classmethod
    def names(cls) -> list[str]:
        """The parameter names, in signature order."""
        return [f.name for f in fields(cls)]

    @classmethod
    def kind(cls, name: str) -> tuple[type, bool]:
        """A parameter's number type (int or float) and whether it takes one value per covariate,
        read from the field's annotation (the CLI's flags are built from it)."""
        annotation = str(next(f.type for f in fields(cls) if f.name == name))
        return (int if annotation.startswith("int") else float), "tuple" in annotation

    def replace(self, **changes: Any) -> HarmonyParams:
        """A copy with some values changed (validated again)."""
        return replace(self, **changes)

    def resolve(self, n_cells: int, n_covariates: int) -> HarmonyParams:
        """Fill every automatic value so both engines get the same explicit settings."""
        for name in ("theta", "lamb"):
            value = getattr(self, name)
            if isinstance(value, tuple) and len(value) != n_covariates:
                msg = (
                    f"{_say(name)} has {len(value)} values but there are {n_covariates} batch covariates; "
                    "give one number or one per covariate"
                )
                raise ValueError(msg)
        theta = self.theta if self.theta is not None else 2.0
        if not isinstance(theta, tuple):
            theta = (theta,) * n_covariates
        lamb = self.lamb
        if lamb is not None and not isinstance(lamb, tuple):
            lamb = (lamb,) * n_covariates
        nclust = self.nclust if self.nclust is not None else int(min(round(n_cells / 30.0), 100))
        nclust = max(nclust, 1)
        if nclust >= n_cells:
            msg = f"{_say('nclust', nclust)} must be smaller than the number of cells ({n_cells})"
            raise ValueError(msg)
        ncores = self.ncores if self.ncores is not None else available_cores()
        return replace(self, theta=theta, lamb=lamb, nclust=nclust, ncores=ncores)

    # --- engine mappings -------------------------------------------------------------
    def to_harmonypy(self) -> dict[str, Any]:
        """Keyword arguments for ``harmonypy.run_harmony`` (harmonypy's names)."""
        out: dict[str, Any] = {}
        for name, hp_name in HARMONYPY_ARGS.items():
            value = getattr(self, name)
            if isinstance(value, tuple):
                value = list(value)
            out[hp_name] = value
        return out

    def to_r(self) -> dict[str, Any]:
        """Arguments for ``harmony::RunHarmony`` (R's names): top level plus ``.options``.

        ``early_stop`` is always TRUE so that ``epsilon.harmony`` applies, as in harmonypy.
        """
        top = {r: getattr(self, py) for py, r in R_ARGS.items()}
        top = {k: (list(v) if isinstance(v, tuple) else v) for k, v in top.items()}
        top["early_stop"] = True
        options = {r: getattr(self, py) for py, r in R_OPTIONS.items()}
        return {"args": top, "options": options, "seed": self.random_state}

    def to_dict(self) -> dict[str, Any]:
        """Plain values (tuples as lists), None kept."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    def to_record(self) -> dict[str, Any]:
        """Values that an ``.h5ad`` can store in ``uns`` (no None: 'auto' instead)."""
        return {k: ("auto" if v is None else v) for k, v in self.to_dict().items()}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> HarmonyParams:
        """Inverse of :meth:`to_record` (accepts what an ``.h5ad`` gives back)."""
        kwargs: dict[str, Any] = {}
        for name in cls.names():
            if name not in record:
                continue
            value = record[name]
            if isinstance(value, str) and value == "auto":
                value = None
            elif isinstance(value, np.ndarray):
                value = tuple(value.tolist())
            elif isinstance(value, list):
                value = tuple(value)
            elif isinstance(value, np.generic):
                value = value.item()
            kwargs[name] = value
        return cls(**kwargs)


def available_cores() -> int:
    """CPUs this process may run on (respects affinity, e.g. Slurm or taskset)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
