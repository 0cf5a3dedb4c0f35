"""``harmonybridge demo``: the workflow on the shipped PBMCs (or any counts), its figures and its summary."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from harmonybridge import convert, report
from harmonybridge._core import checks as _check
from harmonybridge._core import files as _io
from harmonybridge._core.warnings import warn
from harmonybridge.workflow import _pipeline as _workflow

logger = logging.getLogger("harmonybridge")


def markers_wanted(genes: Sequence[str] | None, names: pd.Index) -> list[str] | None:
    """The user's marker genes found in the data (a warning names the others), or None when none were given."""
    if not genes:
        return None
    missing = [g for g in genes if g not in names]
    if missing:
        example = ", ".join(map(str, list(names[:3])))
        warn(f"--markers not in the data, left out: {', '.join(missing)} (genes here are named like {example})")
    return [g for g in genes if g in names]


@dataclass
class DemoRun:
    """What :func:`run_demo` made: the workflow's result, the top markers, the files written."""

    result: _workflow.WorkflowResult
    top: dict[str, list[str]]
    figures: dict[str, Path | None] = field(default_factory=dict)
    written: list[Path] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The console summary: the PCA as computed, LISI before/after, top markers per cluster, the files."""
        adata, label = self.result.adata, self.result.label_key
        pre = adata.uns["harmonybridge_preprocess"]
        scaled = (
            "scaled to unit variance and clipped at 10 first (--no-scale to skip)"
            if pre["scale"]
            else "not scaled (--no-scale)"
        )
        out = [
            f"PCA: {pre['n_comps']} PCs of {pre['n_top_genes']} HVGs chosen within each "
            f"{self.result.batch_key!r}, genes {scaled}",
            self.result.summary(),
            "top markers per cluster (Wilcoxon; RPS/RPL/MT- genes left out):",
        ]
        for cluster, genes in self.top.items():
            cells = adata.obs["leiden"] == cluster
            who = ""
            if label:
                share = adata.obs.loc[cells, label].value_counts(normalize=True)
                who = f"; {share.iloc[0]:.0%} {share.index[0]}"
            out.append(f"  {cluster:>3} ({int(cells.sum())} cells{who}): {', '.join(genes)}")
        out += [f"wrote {path}" for path in [*self.written, *(p for p in self.figures.values() if p is not None)]]
        return out


def run_demo(
    outdir: Path,
    *,
    counts: str | Path | None = None,
    batch: str | None = None,
    label: str | None = None,
    markers: Sequence[str] | None = None,
    scale: bool = True,
    min_genes: int | None = None,
    backend: str = "python",
    rds: bool = False,
    make_unique: bool = False,
) -> DemoRun:
    """The whole workflow with figures into ``outdir`` (created by the first write).

    ``counts`` (with ``batch``, optionally ``label``) replaces the shipped PBMCs (batch ``donor``,
    labels ``cell_type``). ``min_genes`` defaults to 200, and to 50 on the shipped file, which
    keeps only 1,767 genes. Repeated cell names in ``counts`` are refused before any work, or
    suffixed ``-1``, ``-2``, ... with ``make_unique=True``.
    """
    steps = _workflow.Steps(8)
    if counts is not None:
        src = _io.check_input(counts)
        steps(f"reading {src}")
        raw = convert.read(src, make_unique=make_unique)
        _check.unique_cells(raw.obs_names)
        name = src.stem
        min_genes = 200 if min_genes is None else min_genes
    else:
        steps(f"reading the shipped demo data ({_workflow.DEMO_FILE})")
        raw = _workflow.load_demo()
        batch, label = _workflow.DEMO_BATCH, label or _workflow.DEMO_LABEL
        name = Path(_workflow.DEMO_FILE).stem.removesuffix("_counts")
        min_genes = 50 if min_genes is None else min_genes
        logger.info(
            "dataset: %d PBMCs from three 10x chemistries (batch %r), cell types in %r; immunogenomics/symphony, GPL-3",
            raw.n_obs,
            batch,
            label,
        )
    if batch is None:
        msg = "a counts file needs batch= (the obs column that names the batch)"
        raise ValueError(msg)
    _check.batch_keys(raw, batch)
    if label is not None:
        _check.obs_key(raw, label, "label key (--label)")
    scaled = "scaled to unit variance (clipped at 10)" if scale else "NOT scaled (--no-scale)"
    steps(f"QC (min {min_genes} genes per cell), normalize, log1p, HVGs within each {batch!r}, genes {scaled}, PCA")
    adata = _workflow.preprocess(raw, batch, min_genes=min_genes, scale=scale)
    wanted = markers_wanted(markers, adata.var_names)
    result = _workflow.integrate_and_cluster(adata, batch, label_key=label, backend=backend, progress=steps)
    steps("figures and output file")
    top = _workflow.top_markers(adata, 3)
    run = DemoRun(result=result, top=top)
    run.figures = _figures(run, outdir, name, wanted, backend)
    run.written = [_io.write_h5ad(adata, outdir / f"{name}_harmony.h5ad", compression="gzip")]
    if rds:
        run.written.append(convert.write(adata, outdir / f"{name}_harmony.rds"))
    return run


def _figures(run: DemoRun, outdir: Path, name: str, markers: list[str] | None, backend: str) -> dict[str, Path | None]:
    adata, batch, label = run.result.adata, run.result.batch_key, run.result.label_key
    rows = (
        [(batch, f"batch ({batch})")]
        + ([(label, f"cell type ({label})")] if label else [])
        + [("leiden", "Leiden cluster (after Harmony)")]
    )
    columns = [("X_umap_uncorrected", "uncorrected PCs"), ("X_umap", "after Harmony")]
    kinds = {"batch": (batch, adata.obs[batch].nunique())}
    if label:
        kinds["label"] = (label, adata.obs[label].nunique())
    on_umap = markers if markers else [genes[0] for genes in run.top.values() if genes][:16]
    figs = {
        "umap": report.umap_grid(
            adata,
            outdir / f"{name}_umap_before_after.png",
            rows,
            columns,
            annotate=["leiden"],
            title=f"{adata.n_obs} cells: UMAP of the uncorrected and the Harmony-corrected PCs",
        ),
        "lisi": report.lisi_boxes(run.result.lisi, kinds, outdir / f"{name}_lisi.png"),
        "markers_umap": report.markers_umap(
            adata,
            outdir / f"{name}_markers_umap.png",
            on_umap,
            "your markers on the Harmony-corrected UMAP"
            if markers
            else "top Wilcoxon marker of each cluster on the Harmony-corrected UMAP",
        ),
        "dotplot": report.markers_dotplot(
            adata,
            outdir / f"{name}_markers_dotplot.png",
            run.top,
            title="top 3 Wilcoxon markers per Leiden cluster (RPS/RPL/MT- genes left out)",
        ),
        "convergence": report.convergence({backend: adata.uns["harmony"]}, outdir / f"{name}_convergence.png"),
    }
    if markers:
        figs["your_markers"] = report.markers_dotplot(
            adata, outdir / f"{name}_your_markers_dotplot.png", markers, title="your markers"
        )
    if label:
        figs["clusters"] = report.clusters_vs_labels(
            adata.obs["leiden"], adata.obs[label], outdir / f"{name}_clusters_vs_{label}.png"
        )
    return figs
