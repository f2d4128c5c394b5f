"""Drawing the catalog: products and their layouts, features with their whole lives.

History (up to the clock start) uses shares of FEATURE_*_SHARE; every later week draws renames,
removals and additions at the WEEKLY_*_RATE rates, so time travel shows catalog churn.
"""

from __future__ import annotations

import math
import random

from testio_pipeline.testio.simulator import names
from testio_pipeline.testio.simulator.catalog import (
    LEGACY,
    SECTIONED,
    SWD_ONLY,
    Feature,
    IdCounter,
    Product,
    Section,
    Story,
)
from testio_pipeline.testio.simulator.config import (
    CATALOG_MIN_WEEKLY_EVENTS,
    CHUNK_DAYS,
    DAY,
    FEATURE_ADDED_SHARE,
    FEATURE_DELETE_SHARE,
    FEATURE_NULL_DESCRIPTION_RATE,
    FEATURE_NULL_HOWTOFIND_RATE,
    FEATURE_RENAME_SHARE,
    FEATURE_SHARED_SECTION_RATE,
    FEATURE_STORIES_RATE,
    HISTORY_DAYS,
    PRODUCT_ID_RANGE,
    WEEKLY_ADD_RATE,
    WEEKLY_DELETE_RATE,
    WEEKLY_RENAME_RATE,
)

CORE_FEATURES_PER_SECTION = 3  # never deleted, so every section always has features to test


def _layout_for(index: int, rng: random.Random) -> str:
    if index in (0, 1):
        return SECTIONED
    if index == 2:
        return SWD_ONLY
    roll = rng.random()
    return SECTIONED if roll < 0.12 else SWD_ONLY if roll < 0.15 else LEGACY


def build_products(rng: random.Random, n_products: int, section_ids: IdCounter) -> list[Product]:
    """The account's products (static over time), the first ones in every layout."""
    low, high = PRODUCT_ID_RANGE
    ids = sorted(rng.sample(range(low, high), n_products))
    order = list(range(n_products))
    rng.shuffle(order)  # the big sectioned product need not have the smallest id
    products: list[Product] = []
    for index, pid in zip(order, ids):
        layout = _layout_for(index, rng)
        stem = names.PRODUCT_STEMS[index % len(names.PRODUCT_STEMS)]
        suffix = names.PRODUCT_SUFFIXES[(index // len(names.PRODUCT_STEMS)) % len(names.PRODUCT_SUFFIXES)]
        round_no = index // (len(names.PRODUCT_STEMS) * len(names.PRODUCT_SUFFIXES))
        name = f"{stem}{suffix}{f' {round_no + 1}' if round_no else ''}"

        def section(name: str) -> Section:
            return Section(section_ids.next(), name, rng.randint(0, 20))

        if layout == LEGACY:
            default = section("default-section")
            sections: tuple[Section, ...] = ()
            with_default: tuple[Section, ...] = (default,)
            default_id = default.id
        else:
            hidden_default = section_ids.next() if layout == SECTIONED else None
            picked = rng.sample(names.SECTION_NAMES, 3 if rng.random() < 0.2 else 2)
            with_default = tuple(section(n) for n in picked)
            sections = with_default if layout == SECTIONED else ()
            default_id = hidden_default if hidden_default is not None else with_default[0].id
        products.append(
            Product(
                id=pid,
                name=name,
                description=rng.choice(names.PRODUCT_DESCRIPTIONS),
                type=rng.choices(names.PRODUCT_TYPES, names.PRODUCT_TYPE_WEIGHTS)[0],
                layout=layout,
                default_section_id=default_id,
                sections=sections,
                sections_with_default=with_default,
                tz_base=rng.choices((1, 0, 2), (0.8, 0.1, 0.1))[0],
                remote_device_testing=rng.random() < 0.2,
                # zipf-like weights, the first product heavier still (a Canva-sized account)
                weight=(2.0 if index == 0 else 1.0) / (index + 1) ** 0.8,
                index=index,
            )
        )
    return products


def _feature_title(rng: random.Random, used: set[str]) -> str:
    while True:
        title = f"[{rng.choice(names.FEATURE_GROUPS)}] {rng.choice(names.FEATURE_NAMES)}"
        if title not in used or len(used) > 300:
            used.add(title)
            return title


def _stories(rng: random.Random, title: str, story_ids: IdCounter) -> tuple[Story, ...]:
    if rng.random() >= FEATURE_STORIES_RATE:
        return ()
    short = title.split("] ", 1)[-1].lower()
    templates = rng.sample(names.STORY_TEMPLATES, rng.randint(1, 6))
    titles = [t.format(f=short) for t in templates]
    if rng.random() < 0.1:
        titles.append(rng.choice(names.SHARED_STORY_TITLES))
    return tuple(Story(story_ids.next(), t) for t in titles)


def _maybe(rng: random.Random, null_rate: float, pool: tuple[str, ...]) -> str | None:
    """A value from `pool`, or None (quirk 5.9: description / howtofind may be null)."""
    return None if rng.random() < null_rate else rng.choice(pool)


def _new_feature(
    rng: random.Random, product: Product, created_at: int, core_section: int | None,
    used: set[str], feature_ids: IdCounter, story_ids: IdCounter,
) -> Feature:
    title = _feature_title(rng, used)
    section_ids: tuple[int, ...] = ()
    if product.has_sections:
        all_ids = [s.id for s in product.sections_with_default]
        primary = core_section if core_section is not None else rng.choice(all_ids)
        chosen = {primary}
        if rng.random() < FEATURE_SHARED_SECTION_RATE:
            # the same feature listed under a second section (quirk 5.6: deduplicate by id)
            chosen.add(rng.choice([i for i in all_ids if i != primary]))
        section_ids = tuple(sorted(chosen))
    return Feature(
        id=feature_ids.next(),
        product_id=product.id,
        section_ids=section_ids,
        created_at=created_at,
        titles=[(created_at, title)],
        description=_maybe(rng, FEATURE_NULL_DESCRIPTION_RATE, names.FEATURE_DESCRIPTIONS),
        howtofind=_maybe(rng, FEATURE_NULL_HOWTOFIND_RATE, names.HOWTOFIND),
        stories=_stories(rng, title, story_ids),
        core=core_section is not None,
    )


def _renamed(rng: random.Random, title: str) -> str:
    base = title
    for suffix in names.RENAME_SUFFIXES:
        base = base.removesuffix(suffix)
    if rng.random() < 0.5:
        return base + rng.choice(names.RENAME_SUFFIXES)
    return f"[{rng.choice(names.FEATURE_GROUPS)}] {base.split('] ', 1)[-1]}"


def build_history_catalog(
    rng: random.Random, products: list[Product], t0: int, feature_ids: IdCounter, story_ids: IdCounter,
) -> None:
    """Fill every product's catalog with features created, renamed and deleted up to `t0`."""
    history_start = t0 - HISTORY_DAYS * DAY
    plans: list[tuple[int, Product, int | None]] = []
    for product in products:
        n_features = rng.randint(120, 156) if product.index == 0 else rng.randint(8, 45)
        cores = [s.id for s in product.sections_with_default] if product.has_sections else [None]
        slots: list[int | None] = [c for c in cores for _ in range(CORE_FEATURES_PER_SECTION)]
        slots += [None] * max(0, n_features - len(slots))
        for i, core in enumerate(slots):
            if i < len(cores) * CORE_FEATURES_PER_SECTION or rng.random() >= FEATURE_ADDED_SHARE:
                created = history_start - rng.randint(30, 900) * DAY
            else:
                created = history_start + rng.randint(0, (HISTORY_DAYS - 1) * DAY)
            plans.append((created, product, core if i < len(cores) * CORE_FEATURES_PER_SECTION else None))
    # ids grow with creation time across the whole account
    plans.sort(key=lambda plan: (plan[0], plan[1].index))
    used: dict[int, set[str]] = {p.id: set() for p in products}
    for created, product, core in plans:
        feature = _new_feature(rng, product, created, core, used[product.id], feature_ids, story_ids)
        product.features.append(feature)
        window_start = max(created, history_start) + 7 * DAY
        if not feature.core and rng.random() < FEATURE_DELETE_SHARE and window_start < t0 - DAY:
            feature.deleted_at = rng.randint(window_start, t0 - DAY)
        if rng.random() < FEATURE_RENAME_SHARE:
            end = feature.deleted_at if feature.deleted_at is not None else t0
            start = max(created, history_start) + DAY
            if start < end:
                feature.titles.append((rng.randint(start, end - 1), _renamed(rng, feature.titles[0][1])))
    for product in products:
        product.catalog_changed()


def _events(rng: random.Random, expected: float) -> int:
    """A poisson-distributed event count with mean `expected` (knuth; means here are small)."""
    limit, k, p = math.exp(-expected), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def apply_chunk_catalog_events(
    rng: random.Random, products: list[Product], start: int, feature_ids: IdCounter, story_ids: IdCounter,
) -> None:
    """Draw the renames, deletions and additions of the week (start, start + CHUNK_DAYS]."""
    end = start + CHUNK_DAYS * DAY
    weeks = CHUNK_DAYS / 7
    additions: list[tuple[int, Product]] = []
    for product in products:
        alive = [f for f in product.features if f.alive_at(start)]
        deletable = [f for f in alive if not f.core]
        renames = _events(rng, max(CATALOG_MIN_WEEKLY_EVENTS, WEEKLY_RENAME_RATE * len(alive)) * weeks)
        deletions = _events(rng, max(CATALOG_MIN_WEEKLY_EVENTS, WEEKLY_DELETE_RATE * len(alive)) * weeks)
        adds = _events(rng, max(CATALOG_MIN_WEEKLY_EVENTS, WEEKLY_ADD_RATE * len(alive)) * weeks)
        for feature in rng.sample(alive, min(renames, len(alive))):
            feature.titles.append((rng.randint(start + 1, end), _renamed(rng, feature.titles[-1][1])))
        for feature in rng.sample(deletable, min(deletions, len(deletable))):
            feature.deleted_at = rng.randint(start + 1, end)
        additions += [(rng.randint(start + 1, end), product) for _ in range(adds)]
    additions.sort(key=lambda a: (a[0], a[1].index))
    for created, product in additions:
        used = {f.titles[-1][1] for f in product.features}
        product.features.append(_new_feature(rng, product, created, None, used, feature_ids, story_ids))
    for product in products:
        product.catalog_changed()
