"""HarmonyParams: validation, resolution of automatic values, and the two engines' names."""

from __future__ import annotations

import numpy as np
import pytest

from harmonybridge import HarmonyParams
from harmonybridge.harmony.params import ENGINE_ONLY, HARMONYPY_ARGS, R_ARGS, R_OPTIONS


def test_every_parameter_reaches_both_engines():
    names = set(HarmonyParams.names()) - set(ENGINE_ONLY)
    assert set(HARMONYPY_ARGS) == names
    # random_state is passed to R as set.seed(), not as an argument
    assert set(R_ARGS) | set(R_OPTIONS) == names - {"random_state"}


def test_harmonypy_names():
    kw = HarmonyParams(theta=1.5, lamb=0.5, max_iter=7, max_iter_kmeans=9, ncores=1).resolve(300, 1).to_harmonypy()
    assert kw == {
        "theta": [1.5],
        "sigma": 0.1,
        "lamb": [0.5],
        "nclust": 10,
        "tau": 0.0,
        "block_size": 0.05,
        "max_iter_harmony": 7,
        "max_iter_kmeans": 9,
        "epsilon_cluster": 1e-3,
        "epsilon_harmony": 1e-2,
        "alpha": 0.2,
        "batch_prop_cutoff": 1e-5,
        "ncores": 1,
        "random_state": 0,
    }


def test_r_names():
    r = HarmonyParams(theta=(1.0, 3.0), block_size=0.1, random_state=7, ncores=2).resolve(3000, 2).to_r()
    assert r["args"] == {
        "theta": [1.0, 3.0],
        "sigma": 0.1,
        "lambda": None,
        "nclust": 100,
        "max_iter": 10,
        "ncores": 2,
        "early_stop": True,
    }
    assert r["options"] == {
        "alpha": 0.2,
        "tau": 0.0,
        "block.size": 0.1,
        "max.iter.cluster": 4,
        "epsilon.cluster": 1e-3,
        "epsilon.harmony": 1e-2,
        "batch.prop.cutoff": 1e-5,
    }
    assert r["seed"] == 7


@pytest.mark.parametrize(
    ("n_cells", "n_cov", "theta", "nclust"),
    [(3500, 1, (2.0,), 100), (300, 2, (2.0, 2.0), 10), (44, 1, (2.0,), 1)],
)
def test_resolve_fills_defaults(n_cells, n_cov, theta, nclust):
    p = HarmonyParams().resolve(n_cells, n_cov)
    assert p.theta == theta
    assert p.nclust == nclust
    assert p.lamb is None
    assert p.ncores >= 1


def test_resolve_broadcasts_scalars_per_covariate():
    p = HarmonyParams(theta=1.0, lamb=2.0).resolve(300, 3)
    assert p.theta == (1.0, 1.0, 1.0)
    assert p.lamb == (2.0, 2.0, 2.0)


def test_resolve_rejects_wrong_number_of_values():
    with pytest.raises(ValueError, match="theta has 2 values but there are 3 batch covariates"):
        HarmonyParams(theta=(1, 2)).resolve(300, 3)


def test_resolve_rejects_nclust_above_cells():
    with pytest.raises(ValueError, match="nclust=50 must be smaller than the number of cells"):
        HarmonyParams(nclust=50).resolve(20, 1)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"sigma": 0}, ValueError, r"sigma must be in \(0"),
        ({"sigma": float("nan")}, ValueError, "sigma must be a finite number"),
        ({"theta": -1}, ValueError, "theta must be >= 0"),
        ({"theta": "2"}, TypeError, "theta must be a number or one number per batch covariate"),
        ({"theta": []}, TypeError, "theta must be a number"),
        ({"lamb": 0}, ValueError, "lamb must be > 0"),
        ({"nclust": 2.5}, TypeError, "nclust must be an integer"),
        ({"nclust": 0}, ValueError, "nclust must be between 1"),
        ({"tau": -1}, ValueError, r"tau must be in \[0"),
        ({"batch_prop_cutoff": -0.1}, ValueError, r"batch_prop_cutoff must be in \[0, 1\]"),
        ({"batch_prop_cutoff": 1.5}, ValueError, r"batch_prop_cutoff must be in \[0, 1\]"),
        ({"block_size": 0}, ValueError, r"block_size must be in \(0"),
        ({"block_size": 1.5}, ValueError, r"block_size must be in \(0"),
        ({"max_iter": 0}, ValueError, "max_iter must be between 1"),
        ({"max_iter_kmeans": True}, TypeError, "max_iter_kmeans must be an integer"),
        ({"epsilon_cluster": 0}, ValueError, "epsilon_cluster must be in"),
        ({"epsilon_harmony": -1}, ValueError, "epsilon_harmony must be in"),
        ({"alpha": 2}, ValueError, r"alpha must be in \(0"),
        ({"ncores": 0}, ValueError, "ncores must be between 1"),
        ({"random_state": -1}, ValueError, "random_state must be between 0"),
        ({"random_state": 2**31}, ValueError, "random_state must be between 0"),
    ],
)
def test_validation(kwargs, error, match):
    with pytest.raises(error, match=match):
        HarmonyParams(**kwargs)


def test_record_round_trip():
    p = HarmonyParams(theta=(1.0, 2.0), lamb=None, nclust=None, random_state=3)
    rec = p.to_record()
    assert rec["lamb"] == "auto"
    assert rec["nclust"] == "auto"
    assert HarmonyParams.from_record(rec) == p
    # as an .h5ad gives it back: arrays and numpy scalars
    rec2 = {**rec, "theta": np.array([1.0, 2.0]), "random_state": np.int64(3)}
    assert HarmonyParams.from_record(rec2) == p


def test_frozen():
    with pytest.raises(AttributeError):
        HarmonyParams().sigma = 1  # type: ignore[misc]


def test_run_harmony_signature_is_harmony_params():
    """run_harmony's Harmony parameters are HarmonyParams' fields: same names, order and defaults."""
    import inspect

    from harmonybridge import run_harmony

    sig = inspect.signature(run_harmony).parameters
    defaults = HarmonyParams()
    own = [n for n in sig if n in set(HarmonyParams.names())]
    assert own == HarmonyParams.names()
    for name in HarmonyParams.names():
        assert sig[name].default == getattr(defaults, name), name
        assert sig[name].kind is inspect.Parameter.KEYWORD_ONLY


@pytest.mark.parametrize("command", ["run", "check"])
def test_cli_flags_are_harmony_params(command):
    """The CLI's Harmony flags are built from HarmonyParams: one per field, its default, its type."""
    from harmonybridge.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    group = next(g for g in sub._action_groups if g.title.startswith("Harmony parameters"))
    actions = {a.dest: a for a in group._group_actions}
    assert list(actions) == HarmonyParams.names()
    defaults = HarmonyParams()
    for name, action in actions.items():
        kind, per_covariate = HarmonyParams.kind(name)
        assert action.default == getattr(defaults, name)
        assert action.type is kind
        assert (action.nargs == "+") is per_covariate
    assert HarmonyParams.kind("max_iter") == (int, False) and HarmonyParams.kind("theta") == (float, True)


def test_r_engine_passes_to_r_names():
    """The R engine's arguments are HarmonyParams.to_r()'s, flattened: nothing re-spelled, nothing dropped."""
    from harmonybridge.harmony.engines._r import r_arguments

    params = HarmonyParams(theta=1.0, block_size=0.1, random_state=7, ncores=1).resolve(300, 1)
    r = params.to_r()
    flat = r_arguments(params)
    assert flat == {**r["args"], **r["options"], "seed": 7}
    assert flat["early_stop"] is True


def test_engine_names_come_from_one_registry():
    """run_harmony's Backend literal, the command's choices and the cross-check's names are the registry's."""
    from typing import get_args

    from harmonybridge.cli import build_parser
    from harmonybridge.crosscheck._agreement import ENGINE_LABELS, SHORT
    from harmonybridge.harmony.engines import BACKENDS, ENGINES, Backend

    assert get_args(Backend) == BACKENDS == tuple(n for n, e in ENGINES.items() if e.backend)
    assert set(ENGINE_LABELS) == set(SHORT) == set(ENGINES)
    parser = build_parser()
    choices = {
        a.dest: a.choices
        for sub in parser._subparsers._group_actions[0].choices.values()
        for a in sub._actions
        if a.dest in ("backend", "engines")
    }
    assert set(choices["engines"]) == set(ENGINES)


def test_flags_and_help_are_the_parameter_tables():
    from harmonybridge.harmony.params import HELP, INTEGRATION_ARGS, cli_flag

    assert set(HELP) == set(HarmonyParams.names())
    assert set(INTEGRATION_ARGS) <= set(HarmonyParams.names())
    assert cli_flag("random_state") == "--seed" and cli_flag("max_iter_kmeans") == "--max-iter-kmeans"


def test_reduction_names_one_rule():
    from harmonybridge.convert import obsm_key, reduction_name

    assert [reduction_name(k) for k in ("X_pca", "X_pca_harmony", "X_pca_harmony_r", "X_umap", "X_mofa", "mine")] == [
        "pca",
        "harmony",
        "harmony_r",
        "umap",
        "mofa",
        "mine",
    ]
    assert [obsm_key(n) for n in ("pca", "harmony", "tsne", "mofa")] == ["X_pca", "X_pca_harmony", "X_tsne", "X_mofa"]
