"""Fake timers for the bench tests: step times from a formula, no real timing."""
from __future__ import annotations

import json
from collections.abc import Callable

from scaler.bench import features
from scaler.spec import NetSpec


class FakeTimer:
    """A `measure` function: each network's samples are `ms(spec) x spread`; counts the networks it timed."""

    def __init__(self, specs: list[NetSpec], ms: Callable[[NetSpec], float],
                 spread: tuple[float, ...] = (0.98, 1.0, 1.0, 1.02)) -> None:
        self.by_digest = {s.digest(): s for s in specs}
        self.ms, self.spread, self.timed, self.modes = ms, spread, [], set()

    def add(self, spec: NetSpec) -> None:
        """Make `spec` known (the fake finds a network by the spec hash in the cache key)."""
        self.by_digest[spec.digest()] = spec

    def __call__(self, steps, threads):
        out = {}
        for key in steps:
            record = json.loads(key)
            spec = self.by_digest[record["spec"]]
            self.modes.add(record["mode"])
            self.timed.append(spec)
            out[key] = [self.ms(spec) * f for f in self.spread]
        return out


def linear_ms(gmacs: float = 2000.0, intercept: float = 5.0) -> Callable[[NetSpec], float]:
    """A device whose step time is exactly linear in GMACs."""
    return lambda spec: intercept + gmacs * features(spec)["gmacs"]
