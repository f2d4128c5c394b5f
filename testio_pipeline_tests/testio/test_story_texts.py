"""`json_sql.story_texts` (the SQL behind `test_features.user_stories`) gives what the Python
model gives (`models.user_story_texts`) for every shape a story list can take, and no texts
for a value that is no list (the model iterates whatever it gets)."""

from __future__ import annotations

import json
from typing import Any

import duckdb
import pytest

from testio_pipeline.testio.json_sql import literal, story_texts
from testio_pipeline.testio.models import user_story_texts

SHAPES: list[Any] = [
    None,
    [],
    "not a list",
    {"title": "an object, not a list"},
    ["plain text", "", "  "],
    [{"id": 1, "title": "titled"}, {"id": 2, "title": "", "path": "by path"}],
    [{"title": None, "path": "null title"}, {"title": False, "path": "false title"}],
    [{"title": 0, "path": "zero title"}, {"title": 5, "path": "numeric title"}],
    [{"title": [], "path": "empty list title"}, {"title": ["x"], "path": "list title"}],
    [{"title": {}, "path": "empty object title"}, {"title": {"a": 1}, "path": "object title"}],
    [{"path": 7}, {}, {"title": None, "path": None}, {"id": 3}],
    [1, 2.5, True, None, ["nested"], "text among others"],
    [{"title": "ünïcödé ✓", "path": "p"}, {"title": "quote \" and \\\\ backslash"}],
]


@pytest.mark.parametrize("stories", SHAPES, ids=lambda s: json.dumps(s)[:40])
def test_sql_story_texts_equal_the_models(stories: Any) -> None:
    value = f"CAST({literal(json.dumps(stories))} AS JSON)"
    (texts,) = duckdb.sql(f"SELECT {story_texts(value)}").fetchone()
    expected = user_story_texts(stories)[0] if isinstance(stories, (list, type(None))) else []
    assert texts == expected


def test_a_missing_list_gives_no_texts() -> None:
    (texts,) = duckdb.sql(f"SELECT {story_texts('CAST(NULL AS JSON)')}").fetchone()
    assert texts == []
