"""PNG charts of the analytics tables, rendered with matplotlib's Agg canvas (no display needed).

Uses the object API (`Figure` + `FigureCanvasAgg`), never `pyplot`: no global figure state,
so rendering is safe in a Dagster step, a thread or a test, whatever backend is configured.
A chart whose data did not change is not drawn again (`fragile_features_chart`): importing
matplotlib and drawing cost ~0.5 s of a step that otherwise takes ~0.1 s on a small account.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Sequence
from pathlib import Path

from testio_pipeline.warehouse.analytics import settings
from testio_pipeline.warehouse.analytics.ranking import FragileFeature

_BAR_COLOR = "#c0392b"
_DPI = 100


def _label(feature: FragileFeature) -> str:
    title = feature.feature_title or f"feature {feature.feature_id}"
    if len(title) > settings.CHART_TITLE_MAX_CHARS:
        title = title[: settings.CHART_TITLE_MAX_CHARS - 1] + "…"
    suffix = "" if feature.in_catalog else " (not in catalog)"
    return f"{title}{suffix}\n{feature.product} · #{feature.feature_id}"


def render_fragile_features_png(features: Sequence[FragileFeature], *, min_tests: int) -> bytes:
    """A horizontal bar chart of bug density, the most fragile feature on top, as PNG bytes.

    Each bar is annotated with `valid bugs / tests`. With no qualifying feature the chart says
    so instead of being empty, so the report file always exists after a run.
    """
    # imported here: matplotlib (~30 MB, ~0.4 s) only when a chart is really drawn
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    height = 1.2 + 0.55 * max(len(features), 2)
    figure = Figure(figsize=(9, height), dpi=_DPI)
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    axes.set_title(
        f"Most fragile features: valid bugs per test (features with ≥ {min_tests} tests)",
        fontsize=11,
    )
    if not features:
        axes.text(0.5, 0.5, "no feature has enough tests yet", ha="center", va="center")
        axes.set_axis_off()
    else:
        ranked = list(reversed(features))
        positions = range(len(ranked))
        densities = [feature.bug_density for feature in ranked]
        axes.barh(list(positions), densities, color=_BAR_COLOR)
        axes.set_yticks(list(positions), [_label(feature) for feature in ranked], fontsize=8)
        axes.set_xlabel("valid bugs per covering test")
        axes.set_xlim(0, max(densities) * 1.25 or 1.0)
        for position, feature in zip(positions, ranked):
            axes.text(
                feature.bug_density,
                position,
                f"  {feature.bug_density:.2f} ({feature.valid_bugs}/{feature.tests_covered})",
                va="center",
                fontsize=8,
            )
        axes.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


# bump when the drawing changes, so charts of unchanged data are drawn again once
CHART_VERSION = 2


def fragile_features_chart(
    features: Sequence[FragileFeature], *, min_tests: int, path: Path
) -> bytes:
    """The chart of `render_fragile_features_png` as written at `path`: drawn and written
    only when its data differs from what the file there was drawn from (a `.key` file next
    to it holds a hash of that data)."""
    key = hashlib.sha256(repr((CHART_VERSION, min_tests, list(features))).encode()).hexdigest()
    key_path = path.with_name(path.name + ".key")
    try:
        if key_path.read_text() == key:
            return path.read_bytes()
    except OSError:
        pass  # no chart yet, or unreadable: draw it
    png = render_fragile_features_png(features, min_tests=min_tests)
    write_report(png, path)
    write_report(key.encode(), key_path)
    return png


def reports_dir_for(warehouse_path: str | os.PathLike[str]) -> Path:
    """`<directory of the warehouse file>/reports`: where charts of that warehouse go."""
    return Path(warehouse_path).resolve().parent / settings.REPORTS_DIR_NAME


def write_report(content: bytes, path: Path) -> Path:
    """Write `content` to `path` atomically (temp file + rename): a viewer never sees half a
    file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(content)
    os.replace(temporary, path)
    return path
