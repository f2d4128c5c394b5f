"""Constants of the analytics layer: table names, thresholds, check names, report paths.

Kept as data so a reader finds every number a ranking or a coverage gap depends on in one place.
"""

from __future__ import annotations

FEATURE_BUG_DENSITY_TABLE = "feature_bug_density"
PRODUCT_QUALITY_TABLE = "product_quality"
BUG_TRENDS_TABLE = "bug_trends"
FEATURE_COVERAGE_GAPS_TABLE = "feature_coverage_gaps"
TESTER_STATS_TABLE = "tester_stats"
FEATURE_EXECUTION_OUTCOMES_TABLE = "feature_execution_outcomes"
STORY_FAILURES_TABLE = "story_failures"
FEATURE_FRAGILITY_TABLE = "feature_fragility"

# ingest asset keys are the ingest table names
PRODUCTS = "products"
FEATURES = "features"
TESTS = "tests"
TEST_FEATURES = "test_features"
TEST_FEATURE_STORIES = "test_feature_stories"
BUGS = "bugs"

# severities as the API spells them; each becomes a `<severity>_bugs` column of valid bugs
SEVERITIES: tuple[str, ...] = ("critical", "high", "low", "visual", "content", "custom")
STATUS_ACCEPTED = "accepted"
STATUS_REJECTED = "rejected"
STATUS_FORWARDED = "forwarded"
TEST_STATUS_CANCELLED = "cancelled"

# a density over one or two tests is noise: rank only features with at least this many tests
FRAGILE_MIN_TESTS = 5
FRAGILE_TOP_N = 10

# execution outcomes (2026 API): executed means passed, failed or blocked; a failure is
# failed or blocked (the crowd could not complete the feature either way)
EXECUTED_STATUSES: tuple[str, ...] = ("passed", "failed", "blocked")
FAILURE_STATUSES: tuple[str, ...] = ("failed", "blocked")
# "recent cycles": a feature's or story's newest executions, the window of its trend
RECENT_CYCLES = 6
# a story keeps failing when its newest executions failed (or were blocked) this many times
# in a row
KEEPS_FAILING_STREAK = 2
# the fragility ranking needs a trustworthy rate: at least this many executions (and
# FRAGILE_MIN_TESTS covering tests for the density)
FRAGILITY_MIN_EXECUTED = 3

# a catalog feature whose newest test ended more than this many days before the account's
# newest test end counts as a coverage gap ("stale")
COVERAGE_STALE_DAYS = 90

# chart written next to the warehouse file: <warehouse dir>/reports/feature_bug_density.png
REPORTS_DIR_NAME = "reports"
FEATURE_BUG_DENSITY_CHART = "feature_bug_density.png"
CHART_TITLE_MAX_CHARS = 48

# rows per table shown by `python -m testio_pipeline.warehouse.analytics.sample`
SAMPLE_ROWS = 5
SAMPLE_START_MARKER = "<!-- analytics-sample:start -->"
SAMPLE_END_MARKER = "<!-- analytics-sample:end -->"

CHECK_DENSITY_NULL_IFF_UNTESTED = "bug_density_null_iff_untested"
CHECK_DENSITY_BUGS_RECONCILE = "attributed_bugs_reconcile"
CHECK_DENSITY_UNATTRIBUTED_BUGS = "no_unattributed_feature_links"
CHECK_NO_CUSTOMER_MIXING = "no_customer_mixing"
CHECK_PRODUCT_BUGS_RECONCILE = "product_bugs_reconcile"
CHECK_TREND_BUGS_RECONCILE = "trend_bugs_reconcile"
CHECK_KEY_UNIQUE = "key_unique"
CHECK_EXECUTION_BUGS_RECONCILE = "execution_bugs_reconcile"

# how many offending keys a failed check lists in its details
CHECK_SAMPLE_SIZE = 10
