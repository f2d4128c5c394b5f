"""Deterministic random streams and hash draws, independent of PYTHONHASHSEED and call order.

Each part of the account draws from its own stream, named by tags (e.g. `("chunk", 3)`), so
generating one part never shifts the numbers of another.
"""

from __future__ import annotations

import hashlib
import random
import struct

import numpy as np

_U64 = float(2**64)


def _digest(seed: int, tags: tuple[object, ...], size: int = 32) -> bytes:
    text = "|".join([str(seed), *map(str, tags)]).encode()
    return hashlib.blake2b(text, digest_size=size).digest()


def py_rng(seed: int, *tags: object) -> random.Random:
    """A `random.Random` stream named by (seed, tags)."""
    return random.Random(int.from_bytes(_digest(seed, tags), "big"))


def np_rng(seed: int, *tags: object) -> np.random.Generator:
    """A numpy PCG64 stream named by (seed, tags)."""
    words = struct.unpack("<4Q", _digest(seed, tags))
    return np.random.Generator(np.random.PCG64(list(words)))


def uniforms(seed: int, *tags: object, count: int = 8) -> tuple[float, ...]:
    """`count` (<= 8) uniform floats in [0, 1) from a hash of (seed, tags)."""
    words = struct.unpack("<8Q", _digest(seed, tags, size=64))
    return tuple(w / _U64 for w in words[:count])


def between(rng: random.Random, low: int, high: int) -> int:
    """A uniform integer in [low, high]; `randint` is several times slower and this runs per entity."""
    return low + int(rng.random() * (high - low + 1))
