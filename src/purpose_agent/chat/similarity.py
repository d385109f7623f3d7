"""Cosine similarity between embedder vectors, as extraction and the groundedness check need it.

The embedders return unit-length vectors, so a cosine is a dot product; numpy takes the whole matrix
at once (a sentence against every passage sentence is 384 multiplications each, on the request path).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def cosines(rows: Sequence[Sequence[float]], columns: Sequence[Sequence[float]]) -> list[list[float]]:
    """The cosine of every row vector with every column vector (unit-length vectors)."""
    if not rows or not columns:
        return [[] for _ in rows]
    matrix = np.asarray(rows, dtype=np.float64) @ np.asarray(columns, dtype=np.float64).T
    return [[float(value) for value in row] for row in matrix]
