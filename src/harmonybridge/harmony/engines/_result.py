"""What one Harmony run gives back, whichever engine ran it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harmonybridge.harmony.params import HarmonyParams


@dataclass
class EngineResult:
    """What one Harmony run gives back: the corrected cells x PCs and its trace."""

    #: cells x PCs: NumPy, or left in R (``_rbridge.REmbedding``) when R harmony ran on an embedding held
    #: in R; ``np.asarray`` gives NumPy either way
    embedding: Any
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
        """Whether the objective's last relative change fell below ``epsilon_harmony`` (a rise at the
        ``max_iter`` cap is not convergence: see :meth:`not_converged`)."""
        obj = self.objective
        if len(obj) < 2:
            return False
        change = (obj[-2] - obj[-1]) / abs(obj[-2]) if obj[-2] != 0 else 0.0
        return bool(change < self.params.epsilon_harmony) and self.not_converged() is None

    def not_converged(self) -> str | None:
        """Why the run did not converge, or None: it stopped before ``max_iter`` (by the engine's own
        criterion), or at the cap its last step lowered the objective by less than ``epsilon_harmony``
        (a rising or non-finite objective is not convergence)."""
        obj = np.asarray(self.objective, dtype=np.float64)
        if len(obj) == 0:
            return None  # an engine without a trace (Seurat's IntegrateLayers)
        if not np.isfinite(obj).all():
            return "its objective is not finite"
        if self.n_iter < self.params.max_iter or len(obj) < 2:
            return None
        change = (obj[-2] - obj[-1]) / abs(obj[-2]) if obj[-2] != 0 else 0.0
        if 0 <= change < self.params.epsilon_harmony:
            return None
        return (
            f"it ran all {self.params.max_iter} iterations and its last step changed the objective by "
            f"{-change:+.2%} (convergence is a decrease below epsilon_harmony {self.params.epsilon_harmony:g})"
        )

    def convergence_warning(self) -> str | None:
        """What to warn about convergence, or None: a run that did not converge (:meth:`not_converged`) is
        worth a warning when its objective rose or is not finite, or when it stopped at the default cap; a
        run capped at a ``max_iter`` the caller chose and still decreasing is only recorded (converged=False)."""
        why = self.not_converged()
        if why is None:
            return None
        obj = np.asarray(self.objective, dtype=np.float64)
        rose = not np.isfinite(obj).all() or obj[-1] > obj[-2]
        return why if rose or self.params.max_iter == HarmonyParams().max_iter else None

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
            **self.extra.get("record", {}),  # an engine's own entries (the dask engine: its chunking and scheduler)
        }
