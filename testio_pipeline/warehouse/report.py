"""The fragile-features report: one self-contained HTML page (chart and table) to open or share.

Written next to the warehouse (`<warehouse dir>/reports/fragile_features.html`) by the
analytics step; the chart is embedded, so the file can be mailed or attached as it is.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from datetime import datetime

from testio_pipeline.warehouse.analytics.ranking import FragileFeature

REPORT_NAME = "fragile_features.html"

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; max-width: 1100px; }
table { border-collapse: collapse; margin-top: 1rem; }
th, td { padding: .35rem .7rem; border-bottom: 1px solid #ddd; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; }
.muted { color: #777; font-size: .9rem; }
"""


def fragile_features_html(
    features: Sequence[FragileFeature],
    *,
    min_tests: int,
    png: bytes,
    customer_id: int,
    generated_at: datetime,
    source: str,
    by_outcomes: Sequence[tuple] = (),
    by_outcomes_headers: Sequence[str] = (),
) -> bytes:
    """The report page: heading with the rule, the chart, the ranking table, and the
    combined ranking by bugs and execution outcomes (`feature_fragility`) when there is one."""
    rows = "\n".join(
        "<tr>"
        f'<td class="n">{rank}</td><td>{html.escape(f.feature_title or "")}'
        f"{'' if f.in_catalog else ' <span class=muted>(not in catalog)</span>'}</td>"
        f"<td>{html.escape(f.product)}</td>"
        f'<td class="n">{f.tests_covered}</td><td class="n">{f.valid_bugs}</td>'
        f'<td class="n">{f.critical_bugs}</td><td class="n">{f.bug_density:.2f}</td>'
        f'<td class="n">{f.feature_id}</td>'
        "</tr>"
        for rank, f in enumerate(features, start=1)
    )
    table = (
        "<table><thead><tr><th>rank</th><th>feature</th><th>product</th><th>tests</th>"
        "<th>valid bugs</th><th>critical</th><th>bugs per test</th><th>feature id</th></tr>"
        f"</thead><tbody>{rows}</tbody></table>"
        if features
        else "<p>No feature has been covered by enough tests yet.</p>"
    )
    chart = base64.b64encode(png).decode("ascii")
    combined = ""
    if by_outcomes:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in by_outcomes_headers)
        body = "\n".join(
            "<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>"
            for row in by_outcomes
        )
        combined = (
            "<h2>Most fragile by bugs and execution outcomes</h2>"
            "<p>fragility score = (percentile of bug density + failure rate) / 2; failure "
            "rate = failed or blocked executions over executed (the 2026 API's outcomes). "
            "Same ranking as the <code>feature_fragility</code> table.</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Most fragile features</title>
<style>{_STYLE}</style></head>
<body>
<h1>Most fragile features</h1>
<p>Valid bugs per covering test, among features covered by at least {min_tests} tests
(customer {customer_id}). Same ranking as the <code>fragile_features</code> view.</p>
<p class="muted">Generated {generated_at:%Y-%m-%d %H:%M} UTC from {html.escape(source)}.</p>
<img alt="bar chart of the most fragile features" src="data:image/png;base64,{chart}">
{table}
{combined}
</body></html>
"""
    return page.encode("utf-8")


def _cell(value: object) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)
