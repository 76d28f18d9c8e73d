"""A small L2-regularised logistic regression in pure Python (Newton's method).

Used twice: to fit the review queue's shipped calibration (``eventdedup train
review``) and by the ``learned`` resolver, which refits it on operators' answers.
A handful of features and a few thousand rows: Newton converges in ~10 steps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def predict(weights: Sequence[float], x: Sequence[float]) -> float:
    return sigmoid(sum(w * v for w, v in zip(weights, x, strict=True)))


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting (``a`` is small and positive definite)."""
    n = len(b)
    m = [[*row, b[i]] for i, row in enumerate(a)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        m[col], m[pivot] = m[pivot], m[col]
        if abs(m[col][col]) < 1e-12:
            continue
        for r in range(col + 1, n):
            f = m[r][col] / m[col][col]
            if f:
                for c in range(col, n + 1):
                    m[r][c] -= f * m[col][c]
    out = [0.0] * n
    for r in range(n - 1, -1, -1):
        if abs(m[r][r]) < 1e-12:
            continue
        out[r] = (m[r][n] - sum(m[r][c] * out[c] for c in range(r + 1, n))) / m[r][r]
    return out


def fit(
    rows: Sequence[Sequence[float]],
    labels: Sequence[bool],
    *,
    l2: float = 1.0,
    start: Sequence[float] | None = None,
    sample_weight: Sequence[float] | None = None,
    steps: int = 25,
) -> list[float]:
    """Weights maximising the penalised log-likelihood; the penalty pulls towards ``start``.

    Pulling towards ``start`` (not zero) is what lets the learned resolver learn
    *on top of* the shipped calibration: with few answers it stays close to it.
    """
    if not rows:
        return list(start or [])
    k = len(rows[0])
    prior = list(start) if start is not None else [0.0] * k
    w = prior[:]
    sw = list(sample_weight) if sample_weight is not None else [1.0] * len(rows)
    for _ in range(steps):
        grad = [l2 * (w[j] - prior[j]) for j in range(k)]
        hess = [[l2 if i == j else 0.0 for j in range(k)] for i in range(k)]
        for x, y, s in zip(rows, labels, sw, strict=True):
            p = predict(w, x)
            g = s * (p - (1.0 if y else 0.0))
            h = s * p * (1.0 - p)
            for i in range(k):
                grad[i] += g * x[i]
                hi = h * x[i]
                if hi:
                    row = hess[i]
                    for j in range(k):
                        row[j] += hi * x[j]
        delta = _solve(hess, grad)
        w = [wi - di for wi, di in zip(w, delta, strict=True)]
        if max(abs(d) for d in delta) < 1e-7:
            break
    return w
