"""engine.jobs: the one loop that drives a job (drain), under run and the RD sweep."""

from __future__ import annotations

import pytest

from engine import jobs
from engine.errors import Cancelled
from engine.jobs import CancelToken, Progress


def _job(n: int, cancel: CancelToken | None = None):
    for i in range(n):
        if cancel is not None:
            cancel.check()
        yield Progress(i + 1, n, f"step {i + 1}", {"x": float(i)})
    return {"done": n}


def test_drain_hands_every_progress_on_and_returns_the_result():
    seen = []
    assert jobs.drain(_job(3), seen.append) == {"done": 3}
    assert [p.step for p in seen] == [1, 2, 3]
    assert jobs.drain(_job(2)) == {"done": 2}
    seen.clear()
    assert jobs.run(_job(4), show=False, on_progress=seen.append) == {"done": 4} and len(seen) == 4
    assert jobs.run(_job(2), desc="t") == {"done": 2}  # with a (disabled, not a terminal) bar


def test_a_job_within_a_job_relays_its_progress_and_result():
    def outer():
        inner = yield from _job(2)
        yield Progress(3, 3, "after")
        return inner["done"] + 1

    seen = []
    assert jobs.drain(outer(), seen.append) == 3
    assert [p.message for p in seen] == ["step 1", "step 2", "after"]


def test_a_cancel_from_the_progress_callback_stops_the_job():
    token = CancelToken()

    def on_progress(p):
        if p.step == 2:
            token.cancel()

    with pytest.raises(Cancelled):
        jobs.drain(_job(5, token), on_progress)
