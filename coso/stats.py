"""Small statistics for reporting success rates honestly: binomial intervals."""

from __future__ import annotations

import math


def wilson_interval(successes: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a success rate (95% for z = 1.96); (0, 0) for no trials.

    Unlike the normal approximation it stays inside [0, 1] and is not empty at 0 or N successes, which is
    where small evaluations of a weak or strong policy land.
    """
    if total < 0 or not 0 <= successes <= max(total, 0):
        raise ValueError(f"wilson_interval: need 0 <= successes <= total, got {successes} of {total}")
    if total == 0:
        return (0.0, 0.0)
    rate = successes / total
    denominator = 1.0 + z * z / total
    centre = (rate + z * z / (2 * total)) / denominator
    half = z * math.sqrt(rate * (1.0 - rate) / total + z * z / (4.0 * total * total)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))

