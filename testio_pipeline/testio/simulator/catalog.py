"""Products, sections and catalog features: the entities, queried by instant.

A feature has a creation time, an optional deletion time and a list of (time, title) renames,
so the catalog at any instant is a pure function of the clock. Three product layouts exist
(reference §3.1): `sectioned` (`sections` == `sections_with_default`, usually 2), `legacy`
(`sections: []`, one `default-section`) and `swd_only` (`sections: []`, several entries only in
`sections_with_default`). `catalog_gen.py` draws them.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from dataclasses import dataclass, field

from testio_pipeline.testio.simulator.config import ID_GAP_MAX

SECTIONED, LEGACY, SWD_ONLY = "sectioned", "legacy", "swd_only"


@dataclass(slots=True, frozen=True)
class Section:
    id: int
    name: str
    templates_count: int


@dataclass(slots=True, frozen=True)
class Story:
    id: int
    title: str


@dataclass(slots=True)
class Feature:
    """A catalog feature; `section_ids` is empty for products without sections."""

    id: int
    product_id: int
    section_ids: tuple[int, ...]
    created_at: int
    titles: list[tuple[int, str]]  # (from time, title), ascending; renames append
    description: str | None
    howtofind: str | None
    stories: tuple[Story, ...]
    core: bool
    deleted_at: int | None = None

    def alive_at(self, t: int) -> bool:
        return self.created_at <= t and (self.deleted_at is None or t < self.deleted_at)

    def title_at(self, t: int) -> str:
        title = self.titles[0][1]
        for since, candidate in self.titles:
            if since > t:
                break
            title = candidate
        return title


@dataclass(slots=True)
class Product:
    id: int
    name: str
    description: str | None
    type: str
    layout: str
    default_section_id: int
    sections: tuple[Section, ...]
    sections_with_default: tuple[Section, ...]
    tz_base: int
    remote_device_testing: bool
    weight: float
    index: int
    features: list[Feature] = field(default_factory=list)
    _event_times: list[int] | None = None
    _alive: dict[tuple[int | None, int], list[Feature]] = field(default_factory=dict)

    @property
    def has_sections(self) -> bool:
        """testio-mcp's detection: sections, or more than one entry in sections_with_default."""
        return len(self.sections) > 0 or len(self.sections_with_default) > 1

    @property
    def section_ids(self) -> tuple[int, ...]:
        chosen = self.sections if self.sections else self.sections_with_default
        return tuple(sorted(s.id for s in chosen))

    def features_at(self, t: int, section_id: int | None = None) -> list[Feature]:
        """Catalog at `t`, by id; `section_id` narrows to one section of a sectioned product.

        The list is shared (cached per interval between catalog events): do not mutate it.
        """
        if self._event_times is None:
            created = {f.created_at for f in self.features}
            deleted = {f.deleted_at for f in self.features if f.deleted_at is not None}
            self._event_times = sorted(created | deleted)
        narrow = section_id if section_id is not None and self.has_sections else None
        key = (narrow, bisect_right(self._event_times, t))
        cached = self._alive.get(key)
        if cached is None:
            cached = [
                f for f in self.features
                if f.created_at <= t and (f.deleted_at is None or t < f.deleted_at)
                and (narrow is None or narrow in f.section_ids)
            ]
            self._alive[key] = cached
        return cached

    def catalog_changed(self) -> None:
        """Forget cached catalogs after features were added or deleted."""
        self._event_times = None
        self._alive = {}


class IdCounter:
    """Ids that grow with creation time, with the gaps a multi-tenant system shows."""

    def __init__(self, start: int, rng: random.Random) -> None:
        self.value = start
        self._rng = rng

    def next(self) -> int:
        self.value += 1 + int(self._rng.random() * ID_GAP_MAX)
        return self.value
