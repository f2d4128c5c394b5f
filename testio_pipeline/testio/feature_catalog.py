"""A product's feature catalog: the record `TestIOClient.fetch_feature_catalog` returns, and
the merge of the listings it is read from.

A feature can be listed by several sections of its product, each time with the user stories
that section shows (API reference §3.1, §5.6), so the listings are merged by feature id
before anything is stored. Pure data, no HTTP: the client does the fetching.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from testio_pipeline.testio.models import required_id

RawObject = dict[str, Any]


@dataclass(frozen=True)
class FeatureCatalog:
    """One product's feature catalog as fetched in one go.

    `features` are the raw API objects, each once, plus `section_ids`: every section that
    listed it, sorted; empty for a product without sections. `section_ids` of the catalog are
    the product's (§3.1 detection: its default section for a product without sections).
    `requests` counts the HTTP attempts the catalog took, retries included.
    """

    product_id: int
    features: list[dict[str, Any]]
    section_ids: tuple[int, ...]
    has_sections: bool
    requests: int


def _story_key(story: Any) -> Any:
    if isinstance(story, Mapping):
        return ("id", story["id"]) if story.get("id") is not None else (
            "text", story.get("title") or story.get("path")
        )
    return ("text", story)


def merge_feature_listings(
    listings: Iterable[tuple[Sequence[int], list[RawObject]]], what: str
) -> list[RawObject]:
    """Features of several listings (each with the section ids it stands for), once per id.

    The first occurrence's fields win; `section_ids` collects every listing's sections and
    `user_stories` is the union of all occurrences, so a section that shows a feature with
    other stories loses none of them.
    """
    merged: dict[int, RawObject] = {}
    sections: dict[int, set[int]] = {}
    for section_ids, features in listings:
        for feature in features:
            feature_id = required_id(feature, what)
            if feature_id not in merged:
                merged[feature_id] = dict(feature)
                sections[feature_id] = set()
            else:
                kept = merged[feature_id]
                stories = list(kept.get("user_stories") or [])
                known = {_story_key(s) for s in stories}
                extra = [s for s in feature.get("user_stories") or [] if _story_key(s) not in known]
                if extra:
                    kept["user_stories"] = stories + extra
            sections[feature_id].update(section_ids)
    return [
        {**feature, "section_ids": sorted(sections[feature_id])}
        for feature_id, feature in merged.items()
    ]
