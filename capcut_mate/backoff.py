"""Exponential backoff, the one used everywhere something is tried again: the agent's calls
to the service, the ffmpeg exporter's downloads, the service's LISTEN connection.

The n-th delay is base × 2^n (n from 0), at most `cap`; with jitter ("full jitter"), a
random time between 0 and that, so many clients that failed together do not retry together.
"""

from __future__ import annotations

import math
import random


class Backoff:
    def __init__(self, base: float, cap: float = math.inf, *, jitter: bool = False):
        self.base, self.cap, self.jitter = base, cap, jitter
        self.failures = 0

    def next_delay(self) -> float:
        """The delay before the next try, counting one more failure."""
        ceiling = min(self.cap, self.base * 2**self.failures)
        self.failures += 1
        return random.uniform(0, ceiling) if self.jitter else ceiling

    def reset(self) -> None:
        """It worked: the next failure starts from `base` again."""
        self.failures = 0
