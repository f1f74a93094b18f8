"""What the pool tells people: the "no key available" error and the /health counts. No secrets:
keys appear only by ``short_id``."""

from __future__ import annotations

from gemini_proxy.errors import NoKeyAvailable
from gemini_proxy.upstream.keystate import DAILY, KeyState, iso

__all__ = ["ALL_DISABLED_RETRY_AFTER", "describe_wait", "human_seconds", "no_key_error", "pool_counts"]

ALL_DISABLED_RETRY_AFTER = 60.0


def no_key_error(
    states: list[KeyState], model: str, exclude: frozenset[str], now: float, free_in: float | None,
    pinned: frozenset[str] = frozenset(),
) -> NoKeyAvailable:
    """``free_in``: seconds until the earliest enabled key (tried or not) frees, None if none can.
    ``pinned``: keys of other projects than a context cache's owner, which cannot serve the request."""
    if not states:
        return NoKeyAvailable("No Gemini API keys are configured.", retry_after=ALL_DISABLED_RETRY_AFTER)
    if all(st.disabled for st in states):
        reasons = ", ".join(f"{st.short_id}: {st.disabled_reason}" for st in states[:5])
        more = f" and {len(states) - 5} more" if len(states) > 5 else ""
        return NoKeyAvailable(
            f"All {len(states)} Gemini API keys are disabled (invalid key or permission denied: "
            f"{reasons}{more}). Fix or replace them in the keys file, or re-enable them.",
            retry_after=ALL_DISABLED_RETRY_AFTER,
        )
    retry_after = free_in if free_in is not None and free_in > 0 else 1.0
    return NoKeyAvailable(describe_wait(states, model, exclude, now, retry_after, pinned), retry_after=retry_after)


def pool_counts(states: list[KeyState], now: float) -> dict[str, int]:
    enabled = [st for st in states if not st.disabled]
    cooling = [st for st in enabled if any(c.until > now for c in st.cooldowns.values())]
    benched = [st for st in enabled if st.benched_until > now]
    return {
        "configured": len(states),
        "enabled": len(enabled),
        "disabled": len(states) - len(enabled),
        "cooling_down": len(cooling),
        "benched": len(benched),
        "available": len(enabled) - len({st.short_id for st in cooling} | {st.short_id for st in benched}),
        "in_flight": sum(st.in_flight for st in states),
    }


def human_seconds(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes}m {int(seconds % 60)}s"
    return f"{minutes // 60}h {minutes % 60}m"


def describe_wait(
    states: list[KeyState], model: str, exclude: frozenset[str], now: float, retry_after: float,
    pinned: frozenset[str] = frozenset(),
) -> str:
    """Why no key can serve ``model`` now, by category, with when they come back. No secrets."""
    disabled = cooling = daily = tried = busy = elsewhere = benched = 0
    cool_end: float | None = None
    daily_end: float | None = None
    for st in states:
        until = st.blocked_until(model)
        if st.short_id in pinned:
            elsewhere += 1
        elif st.disabled:
            disabled += 1
        elif until > now and st.cooldowns[model].kind == DAILY:
            daily += 1
            daily_end = until if daily_end is None else min(daily_end, until)
        elif until > now:
            cooling += 1
            cool_end = until if cool_end is None else min(cool_end, until)
        elif st.short_id in exclude:
            tried += 1
        elif st.benched_until > now:
            benched += 1
        else:
            busy += 1
    parts: list[str] = []
    if cooling and cool_end is not None:
        parts.append(f"{cooling} cooling down after rate limits (first back in {human_seconds(cool_end - now)})")
    if daily and daily_end is not None:
        parts.append(
            f"{daily} out of daily quota (back at midnight America/Los_Angeles, {iso(daily_end)}, "
            f"in {human_seconds(daily_end - now)})"
        )
    if busy:
        parts.append(f"{busy} busy at their concurrency/requests-per-minute limit")
    if benched:
        parts.append(f"{benched} benched after failing repeatedly while other keys succeeded")
    if tried:
        parts.append(f"{tried} already tried for this request")
    if disabled:
        parts.append(f"{disabled} disabled (invalid key or permission denied)")
    if elsewhere:
        parts.append(f"{elsewhere} in other projects, which cannot see the request's cached content")
    total = len(states)
    return (
        f"No Gemini API key can serve model '{model}' now ({total} keys: {'; '.join(parts)}). "
        f"Retry after {human_seconds(retry_after)}."
    )
