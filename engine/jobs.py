"""Long work as generators: the one way training, compression, distillation and image coding run.

A job is a generator that yields :class:`Progress` now and then, checks a :class:`CancelToken`,
and returns its result (``StopIteration.value``). The CLI drives jobs with a tqdm progress bar
(:func:`run`); the GUI drives the same generators in a worker QThread (app/workers.py); both go
through :func:`drain`.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Generator

from engine.errors import Cancelled


@dataclass
class Progress:
    step: int
    total: int
    message: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    preview: Any = None  # e.g. a GaussianScene snapshot or an image for live display


Job = Generator[Progress, None, Any]


class CancelToken:
    """Thread-safe cancel flag; jobs call :meth:`check` between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled("cancelled")


def drain(job: Job, on_progress: Callable[[Progress], None] | None = None) -> Any:
    """Drive a job to completion, handing each yielded item to ``on_progress``; return its result.

    The one loop that drives a job outside a generator: :func:`run` (the CLI), the RD sweep's
    measurements and the GUI's worker thread (app/workers.py) use it. Inside another job, use
    ``result = yield from job`` instead, so its progress goes on to the caller."""
    while True:
        try:
            p = next(job)
        except StopIteration as stop:
            return stop.value
        if on_progress is not None:
            on_progress(p)


def run(job: Job, *, desc: str = "", show: bool = True, on_progress: Callable[[Progress], None] | None = None) -> Any:
    """Drive a job to completion (:func:`drain`), showing a progress bar on stderr; return its result."""
    if not show:
        return drain(job, on_progress)
    from tqdm import tqdm

    bar = tqdm(total=None, desc=desc, file=sys.stderr, dynamic_ncols=True, leave=False,
               disable=None)  # fmt: skip  # disable=None: no bar when stderr is not a terminal

    def show_progress(p: Progress) -> None:
        if on_progress is not None:
            on_progress(p)
        if bar.total != p.total:
            bar.total = p.total
        bar.n = p.step
        post = {k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in p.metrics.items()}
        if p.message:
            bar.set_description_str(f"{desc} {p.message}".strip(), refresh=False)
        bar.set_postfix(post, refresh=False)
        bar.refresh()

    try:
        return drain(job, show_progress)
    finally:
        bar.close()
