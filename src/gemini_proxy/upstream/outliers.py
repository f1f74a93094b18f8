"""Outlier ejection: a key that keeps failing while the others succeed is benched for a while.

In the spirit of Envoy's outlier detection (consecutive 5xx, ejection time that grows with each
ejection, a cap on the share of hosts ejected):

* a key whose last ``BENCH_AFTER`` attempts all ended in a server error or timeout, while some
  other key's request *sent after that run began* succeeded, is benched: out of rotation for
  ``BENCH_BASE`` seconds, doubling each time it is benched again without a success in between,
  up to ``BENCH_MAX``;
* it comes back on its own when its time is up; its run of failures is not forgotten, so one more
  failure benches it again at once (for twice as long), and one success clears everything;
* a model-wide outage (every key failing: a 503 "overloaded" is about the model, not the key)
  benches none, since nobody succeeded; and at most half of the enabled keys are benched at once,
  so that the rest is never left to carry every request alone.

Benching is this process's own view, not shared through the state store: it is cheap to relearn,
and a key that fails from one machine may work from another.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from gemini_proxy.upstream.keystate import KeyState

__all__ = ["BENCH_AFTER", "BENCH_BASE", "BENCH_MAX", "Outliers"]

log = logging.getLogger("gemini_proxy.pool")

BENCH_AFTER = 5
BENCH_BASE = 2.0
BENCH_MAX = 60.0


class Outliers:
    def __init__(
        self,
        clock: Callable[[], float],
        *,
        after: int = BENCH_AFTER,
        base: float = BENCH_BASE,
        cap: float = BENCH_MAX,
    ) -> None:
        self._clock = clock
        self.after = after
        self.base = base
        self.cap = cap
        self.last_success = 0.0  # when the last request that succeeded (on any key) was sent

    def succeeded(self, st: KeyState, sent_at: float) -> None:
        if sent_at > self.last_success:
            self.last_success = sent_at
        if st.failures_in_row and sent_at >= st.failing_since:  # sent before the run began: says nothing of it
            st.failures_in_row = st.benches = 0

    def failed(self, st: KeyState, sent_at: float, reason: str, keys: Iterable[KeyState]) -> None:
        """A server error or timeout on ``st``'s key; ``keys``: the pool's configured keys."""
        if not st.failures_in_row:
            st.failing_since = sent_at
        st.failures_in_row += 1
        now = self._clock()
        if st.failures_in_row < self.after or st.benched_until > now or self.last_success <= st.failing_since:
            return  # not yet an outlier; already benched; or nobody succeeded meanwhile (an outage)
        enabled = benched = 0
        for key in keys:
            if not key.disabled:
                enabled += 1
                benched += key.benched_until > now
        if 2 * (benched + 1) > enabled:
            return
        seconds = min(self.base * 2**st.benches, self.cap)
        st.benches += 1
        st.benched_until = now + seconds
        st.bench_reason = f"{st.failures_in_row} failures in a row while other keys succeeded (last: {reason})"
        log.warning("key %s benched for %.0fs: %s", st.short_id, seconds, st.bench_reason)
