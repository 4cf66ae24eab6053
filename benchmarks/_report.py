"""Benchmark results for the docs: each bench script records its table here, ``render`` turns them into pages.

``record`` writes ``docs/benchmarks/_generated/<name>.json`` (one run's numbers); ``python benchmarks/_report.py``
(run last by ``nox -s bench``) renders each into ``<name>.rst`` (a table the benchmarks page includes) and
``<name>.svg`` (a matplotlib bar chart of one column, committed with the page).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[1] / "docs" / "benchmarks" / "_generated"


def record(
    name: str, title: str, columns: list[str], rows: list[list[Any]], *, plot: str | None = None, note: str = ""
) -> None:
    """Save one table; ``plot`` names the numeric column charted per row (labelled by the non-numeric columns)."""
    OUT.mkdir(parents=True, exist_ok=True)
    data = {"title": title, "columns": columns, "rows": rows, "plot": plot, "note": note}
    (OUT / f"{name}.json").write_text(json.dumps(data, indent=1, default=str) + "\n")


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return "-" if value is None else str(value)


def render_table(data: dict[str, Any]) -> str:
    lines = [f".. list-table:: {data['title']}", "   :header-rows: 1", ""]
    for row in [data["columns"], *data["rows"]]:
        cells = [_cell(value) for value in row]
        lines.append(f"   * - {cells[0]}")
        lines += [f"     - {cell}" for cell in cells[1:]]
    if data.get("note"):
        lines += ["", data["note"]]
    return "\n".join(lines) + "\n"


def render_plot(data: dict[str, Any], path: Path) -> None:
    import matplotlib as mpl

    mpl.use("svg")
    mpl.rcParams["svg.hashsalt"] = "lak"  # stable ids: a rerun with the same numbers gives the same file
    import matplotlib.pyplot as plt

    column = data["columns"].index(data["plot"])
    labels, values = [], []
    for row in data["rows"]:
        if isinstance(row[column], (int, float)):
            labels.append(
                " ".join(str(v) for i, v in enumerate(row) if not isinstance(v, (int, float)) and i != column)
            )
            values.append(row[column])
    fig, ax = plt.subplots(figsize=(8, max(2.0, 0.3 * len(values) + 1)))
    ax.barh(labels, values)
    ax.invert_yaxis()
    ax.set_xlabel(data["plot"])
    ax.set_title(data["title"], fontsize=9)
    fig.tight_layout()
    fig.savefig(path, format="svg", metadata={"Date": None})
    plt.close(fig)


def render_results(sources: list[Path]) -> str:
    """The page section the benchmarks page includes: every recorded table and its plot."""
    if not sources:
        return "No benchmark run is recorded yet: run ``python -m nox -s bench`` and commit the results.\n"
    parts: list[str] = []
    for source in sources:
        data = json.loads(source.read_text())
        # Sphinx resolves both paths from the page that includes results.rst (docs/benchmarks/index.rst).
        parts += [data["title"], "-" * len(data["title"]), "", f".. include:: {OUT.name}/{source.stem}.rst", ""]
        if data.get("plot"):
            parts += [
                f".. image:: {OUT.name}/{source.stem}.svg",
                f"   :alt: {data['plot']} per row of the table above",
                "",
            ]
    return "\n".join(parts)


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    sources = sorted(OUT.glob("*.json"))
    for source in sources:
        data = json.loads(source.read_text())
        source.with_suffix(".rst").write_text(render_table(data))
        if data.get("plot"):
            render_plot(data, source.with_suffix(".svg"))
    (OUT / "results.rst").write_text(render_results(sources))
    return 0


if __name__ == "__main__":
    sys.exit(main())
