"""The fragile-feature ranking, its chart and the markdown sampler for docs."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest

from testio_pipeline.warehouse import charts
from testio_pipeline.warehouse.analytics import replace_all, settings
from testio_pipeline.warehouse.analytics import ANALYTICS_TABLES
from testio_pipeline.warehouse.analytics.ranking import (
    create_fragile_features_view,
    fragile_features_markdown,
    top_fragile_features,
)
from testio_pipeline.warehouse.analytics.sample import (
    main,
    replace_between_markers,
    sample_markdown,
)

from .builder import build


@pytest.fixture
def ranked(con, wb):
    """Features 1-4 with 5 tests each and 10, 5, 5, 0 valid bugs; feature 5 has 1 test, 9 bugs."""
    for test_id in range(1, 6):
        wb.test(test_id, 10)
    for feature_id, valid, critical in [(1, 10, 0), (2, 5, 1), (3, 5, 2), (4, 0, 0)]:
        wb.feature(feature_id, 10, f"feature | {feature_id}")
        for test_id in range(1, 6):
            wb.test_feature(feature_id * 100 + test_id, test_id, feature_id)
        for n in range(valid):
            wb.bug(feature_id * 1000 + n, test_id=1, feature_id=feature_id,
                   severity="critical" if n < critical else "low")
    wb.feature(5, 10, "barely tested")
    wb.test_feature(501, 1, 5)
    for n in range(9):
        wb.bug(5000 + n, test_id=1, feature_id=5)
    # another customer's far denser feature must not enter customer 1's ranking
    other = wb.for_customer(2)
    for test_id in range(1, 6):
        other.test_feature(test_id, test_id, 9)
    for n in range(50):
        other.bug(n, test_id=1, feature_id=9)
    build(con, settings.FEATURE_BUG_DENSITY_TABLE)
    return con


def test_ranking_needs_min_tests_and_breaks_ties_on_critical_bugs(ranked):
    features = top_fragile_features(ranked, customer_id=1, limit=10, min_tests=5)
    assert [f.feature_id for f in features] == [1, 3, 2, 4]
    assert [f.bug_density for f in features] == [2.0, 1.0, 1.0, 0.0]
    assert [f.feature_id for f in top_fragile_features(ranked, customer_id=1, min_tests=1)][0] == 5
    assert [f.feature_id for f in top_fragile_features(ranked, customer_id=1, limit=2)] == [1, 3]


def test_the_view_the_function_and_the_readme_query_give_the_same_ranking(ranked):
    create_fragile_features_view(ranked)
    expected = [(f.feature_id, f.bug_density) for f in top_fragile_features(ranked, customer_id=1)]
    view = ranked.execute(
        "SELECT feature_id, bug_density FROM fragile_features WHERE customer_id = 1 ORDER BY rank"
    ).fetchall()
    assert view == expected == [(1, 2.0), (3, 1.0), (2, 1.0), (4, 0.0)]
    root = Path(__file__).parents[2]
    readme = (root / "README.md").read_text()
    assert query_in(readme) == query_in((root / "scripts" / "quickstart").read_text())
    readme_rows = ranked.execute(query_in(readme)).fetchall()
    titles = [row[1] for row in readme_rows]
    assert titles == [f.feature_title for f in top_fragile_features(ranked, customer_id=1)]


def query_in(text: str) -> str:
    """The `duckdb -readonly <file> -c "..."` query of the quick start in `text`."""
    found = re.search(r'duckdb -readonly \S+ -c "(SELECT [^"]*fragile_features[^"]*)"', text)
    assert found, "the quick start query reads the fragile_features view"
    return found.group(1)


def test_ranking_markdown_states_its_rule_and_escapes_titles(ranked):
    text = fragile_features_markdown(top_fragile_features(ranked, customer_id=1), min_tests=5)
    assert "at least 5 tests" in text
    # product 10 has no row in `products`: its id stands in for the name
    assert "| 1 | feature \\| 1 | product 10 | 5 | 10 | 0 | 2.000 | 1 |" in text
    assert "No feature qualifies" in fragile_features_markdown([], min_tests=5)


def test_chart_is_a_png_and_renders_without_any_qualifying_feature(ranked, tmp_path: Path):
    for features in (top_fragile_features(ranked, customer_id=1), []):
        png = charts.render_fragile_features_png(features, min_tests=5)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        # the IHDR chunk comes first: width and height, big-endian
        width, height = struct.unpack(">II", png[16:24])
        assert width > 400 and height > 100


def test_chart_is_drawn_again_only_when_its_data_changes(ranked, tmp_path: Path):
    path = tmp_path / "reports" / "chart.png"
    features = top_fragile_features(ranked, customer_id=1)
    first = charts.fragile_features_chart(features, min_tests=5, path=path)
    assert path.read_bytes() == first
    # unchanged data: the file is served as it is (a marker proves it was not redrawn)
    path.write_bytes(b"kept")
    assert charts.fragile_features_chart(features, min_tests=5, path=path) == b"kept"
    # other data, or another threshold: drawn and written again
    fewer = charts.fragile_features_chart(features[:1], min_tests=5, path=path)
    assert fewer.startswith(b"\x89PNG") and path.read_bytes() == fewer
    assert charts.fragile_features_chart(features[:1], min_tests=3, path=path) != fewer


def test_report_is_written_next_to_the_warehouse(tmp_path: Path):
    warehouse = tmp_path / "data" / "testio.duckdb"
    path = charts.write_report(b"png bytes", charts.reports_dir_for(warehouse) / "chart.png")
    assert path == tmp_path / "data" / "reports" / "chart.png"
    assert path.read_bytes() == b"png bytes"
    assert [p.name for p in path.parent.iterdir()] == ["chart.png"]


def test_sample_prints_every_table_and_the_ranking(con, wb, capsys, warehouse_path):
    from .worlds import shop

    shop(wb)
    replace_all(con)
    text = sample_markdown(con, rows=2)
    for table in ANALYTICS_TABLES:
        assert f"#### `{table.name}`" in text
    assert "Most fragile features, customer 1" in text
    assert "| 1 | 100 | 10 | Checkout | true | 2 | 8 | 6 | 2 | 1 | 1 | 3.000 |" in text
    con.close()
    assert main([str(warehouse_path), "--rows", "1"]) == 0
    assert "#### `tester_stats` (1 rows; top 1 by" in capsys.readouterr().out


def test_sample_write_replaces_only_the_marked_section(tmp_path: Path):
    start, end = settings.SAMPLE_START_MARKER, settings.SAMPLE_END_MARKER
    document = f"# Analytics\n\nintro\n\n{start}\nold sample\n{end}\n\nafter\n"
    updated = replace_between_markers(document, "new sample\n")
    assert updated == f"# Analytics\n\nintro\n\n{start}\nnew sample\n{end}\n\nafter\n"
    with pytest.raises(ValueError):
        replace_between_markers("no markers here", "x")


def test_sample_refuses_a_missing_warehouse(tmp_path: Path):
    assert main([str(tmp_path / "missing.duckdb")]) == 1
