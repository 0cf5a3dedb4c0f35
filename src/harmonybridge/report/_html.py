"""HTML and text tables: the cross-check's report page, figures embedded."""

from __future__ import annotations

import html
import json
from typing import Any

import pandas as pd

from ._figures import convergence_figure, engine_umaps, per_pc_scatter, png


def text_table(df: pd.DataFrame, float_fmt: str) -> str:
    """A data frame as aligned plain text (for the terminal)."""
    cells = [[str(df.index.name or "")] + [str(c) for c in df.columns]]
    for idx, row in df.iterrows():
        cells.append([str(idx)] + [float_fmt.format(v) if isinstance(v, float) else str(v) for v in row])
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    return "\n".join("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells)


def engine_override_warnings(by_engine: dict[str, dict[str, dict]], labels: dict[str, str]) -> list[str]:
    """One warning per parameter an engine changed by itself (R harmony's block_size on few cells)."""
    return [
        f"{labels.get(engine, engine)} ran {name}={o['ran']}, not {o['asked']}: {o['why']}; the engines did not run "
        "the same parameters"
        for engine, changed in by_engine.items()
        for name, o in changed.items()
    ]


def _short_label(label: str) -> str:
    """An engine's label without its parenthesis ("Python (harmonypy)" -> "Python")."""
    return label.split(" (")[0]


def overrides_text(
    overrides: dict[str, dict[str, Any]],
    labels: dict[str, str],
    by_engine: dict[str, dict[str, dict]] | None = None,
) -> str:
    """One line saying which parameters were set for one engine only (``overrides``: engine ->
    parameter -> {"engine": value, "shared": value}, e.g. from python_params / dask_params) and which
    an engine changed by itself (``by_engine``, :attr:`EngineResult.overrides`). ``labels`` names
    the engines (the report's ``meta["engine_labels"]``); every engine in ``overrides`` is said,
    in its order, an unknown one by its name."""
    parts = []
    itself = [
        f"{engine} engine changed {k} {o['asked']} -> {o['ran']} itself"
        for engine, changed in (by_engine or {}).items()
        for k, o in changed.items()
    ]
    for engine, changed in overrides.items():
        if changed:
            name = f"{_short_label(labels.get(engine, engine))} engine"
            parts.append(
                f"{name} " + ", ".join(f"{k}={v['engine']} (shared: {v['shared']})" for k, v in changed.items())
            )
    if not parts and not itself:
        return "overrides: none (every engine ran the same parameters)"
    if not parts:
        return "overrides: none set by you, but " + "; ".join(itself)
    return "overrides applied to one engine only: " + "; ".join(parts + itself)


def _crosscheck_figures(report: Any) -> dict[str, str]:
    fd = report.figure_data
    if not fd:
        return {}
    color_by = [("batch", fd["batch"])] + ([("label", fd["labels"])] if fd["labels"] is not None else [])
    labels = report.meta["engine_labels"]
    runs = {labels[engine]: {"objective": obj} for engine, obj in report.convergence.items()}
    a, b = fd["engines"][:2]
    short = {e: _short_label(labels[e]) for e in fd["engines"]}
    return {
        "umaps": png(engine_umaps(fd["umaps"], color_by, labels)),
        "scatter": png(per_pc_scatter(fd["embeddings"][a], fd["embeddings"][b], (short[a], short[b]))),
        "convergence": png(convergence_figure(runs, title="convergence, first seed", figsize=(5, 3.5))),
    }


def _html_table(df: pd.DataFrame, fmt: str) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in [df.index.name or "", *df.columns])
    body = []
    for idx, row in df.iterrows():
        cells = [f"<td>{html.escape(str(idx))}</td>"]
        for v in row:
            text = fmt.format(v) if isinstance(v, float) else str(v)
            cls = ' class="bad"' if text == "NO" else (' class="good"' if text == "yes" else "")
            cells.append(f"<td{cls}>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def crosscheck_html(report: Any) -> str:
    """The cross-check as a self-contained page (figures embedded) that a person can read at a glance."""
    m = report.meta
    figs = _crosscheck_figures(report)
    color = "#1b7f3b" if report.passed else "#b00020"
    img = lambda key, alt: f'<img alt="{alt}" src="data:image/png;base64,{figs[key]}">' if key in figs else ""  # noqa: E731
    versions = ", ".join(f"{k} {v}" for k, v in report.versions.items())
    engines, labels = report.engines, report.meta["engine_labels"]
    params = "<br>".join(f"{html.escape(labels[e])}: {html.escape(json.dumps(report.params[e]))}" for e in engines)
    verdicts = report.pair_verdicts()
    agreement = []
    for name, table in report.tables.items():
        diff = report.param_differences.get(name) or {}
        differ = ", ".join(f"{k} {v[0]} vs {v[1]}" for k, v in diff.items())
        differ = f"parameters that differ: {differ}" if differ else "same parameters"
        agreement.append(
            f'<h3>{html.escape(name)}: {verdicts[name]}</h3><p class="note">{html.escape(differ)}</p>'
            + _html_table(table, "{:.4f}")
        )
    names = ", ".join(labels[e] for e in engines)
    note = report.sampling_note()
    sampled = f'<p class="note">{html.escape(note)}.</p>' if note else ""
    seurat_path = f'<p class="note">Seurat path: {html.escape(m["seurat_path"])}.</p>' if m.get("seurat_path") else ""
    a, b = (_short_label(labels[e]) for e in engines[:2])
    label_note = f", labels <b>{html.escape(m['label_key'])}</b>" if m["label_key"] else ""
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>harmonybridge cross-check: {report.verdict}</title>
<style>body{{font-family:sans-serif;max-width:1150px;margin:2em auto;color:#222}} h1{{color:{color}}}
table{{border-collapse:collapse;margin:.5em 0 1.5em}} td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}
td:first-child,th:first-child,td:nth-child(2){{text-align:left}} .bad{{color:#b00020;font-weight:bold}}
.good{{color:#1b7f3b}}
img{{max-width:100%}} .note{{color:#555;font-size:90%}}
.warn{{background:#fff4ce;border-left:4px solid #c98a00;padding:.5em .8em}}</style></head><body>
<h1>Engines {report.verdict.upper()}</h1>
{"".join(f'<p class="warn"><b>Warning:</b> {html.escape(w)}</p>' for w in report.warnings)}
<p>{html.escape(overrides_text(m.get("overrides", {}), labels, m.get("engine_overrides", {})))}</p>
<p>{m["n_cells"]} cells x {m["n_pcs"]} PCs ({html.escape(m["basis"])}),
batch <b>{html.escape(str(m["batch_key"]))}</b>{label_note};
{m["n_seeds"]} seeds per engine ({", ".join(map(str, report.params["seeds"]))}).</p>
<p>Engines: {html.escape(names)}.</p>{sampled}{seurat_path}
<p class="note">Rule: for each pair of engines and each metric, the gap between them (median over all seed pairs;
gap = 1 - similarity, or the distance) must be at most {m["margin"]} x the worst gap between two seeds of either
engine, plus a small floor (the "limit" column). Exact equality is impossible: the engines' random number generators
differ.</p>
<h2>Agreement</h2>{"".join(agreement)}
<h2>Integration: uncorrected and each engine</h2>{_html_table(report.integration, "{:.3f}")}
<p class="note">Batch LISI: higher = better mixed (1 = one batch around each cell).
Label LISI: lower = labels kept apart.
Silhouette and ARI against labels: higher = biology kept.</p>
<h2>UMAPs</h2>{img("umaps", "UMAPs of each engine")}
<h2>{html.escape(b)} vs {html.escape(a)}, per PC</h2>{img("scatter", "per-PC scatter")}
<h2>Convergence</h2>{img("convergence", "convergence")}
<h2>Versions and parameters</h2><p>{html.escape(versions)}</p>
<p class="note">{params}</p>
</body></html>"""
