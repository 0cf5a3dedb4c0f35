"""What one Harmony run gives back, whichever engine ran it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harmonybridge.harmony.params import HarmonyParams


@dataclass
class EngineResult:
    """What one Harmony run gives back: the corrected cells x PCs and its trace."""

    embedding: np.ndarray
    engine: str
    versions: dict[str, str]
    objective: np.ndarray
    kmeans_rounds: np.ndarray
    objective_kmeans: np.ndarray
    seconds: float
    params: HarmonyParams
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n_iter(self) -> int:
        """Harmony iterations run."""
        return int(len(self.kmeans_rounds))

    @property
    def converged(self) -> bool:
        """Whether the objective's last relative change fell below ``epsilon_harmony``."""
        obj = self.objective
        if len(obj) < 2:
            return False
        change = (obj[-2] - obj[-1]) / abs(obj[-2]) if obj[-2] != 0 else 0.0
        return bool(change < self.params.epsilon_harmony)

    def record(self) -> dict[str, Any]:
        """What ``uns['harmony']`` holds (only types an ``.h5ad`` can store)."""
        return {
            "engine": self.engine,
            "engine_version": self.versions.get(self.engine.split()[-1], ""),
            "versions": dict(self.versions),
            "params": self.params.to_record(),
            "n_iter": self.n_iter,
            "converged": self.converged,
            "objective": np.asarray(self.objective, dtype=np.float64),
            "kmeans_rounds": np.asarray(self.kmeans_rounds, dtype=np.int64),
            "objective_kmeans": np.asarray(self.objective_kmeans, dtype=np.float64),
            "seconds": float(self.seconds),
            **self.extra.get("record", {}),  # an engine's own entries (the dask engine: its chunking and scheduler)
        }
