"""What one Harmony run gives back, whichever engine ran it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harmonybridge._params import HarmonyParams


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
    #: parameters the engine changed by itself: name -> {"asked": value, "ran": value, "why": text}
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def effective_params(self) -> HarmonyParams:
        """The parameters the engine really ran: those it was given, with its own silent changes applied."""
        return self.params.replace(**{k: v["ran"] for k, v in self.overrides.items()})

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
            "params": self.effective_params.to_record(),  # what ran; what was asked differs only in overrides
            "overrides": {k: dict(v) for k, v in self.overrides.items()},
            "n_iter": self.n_iter,
            "converged": self.converged,
            "objective": np.asarray(self.objective, dtype=np.float64),
            "kmeans_rounds": np.asarray(self.kmeans_rounds, dtype=np.int64),
            "objective_kmeans": np.asarray(self.objective_kmeans, dtype=np.float64),
            "seconds": float(self.seconds),
        }
