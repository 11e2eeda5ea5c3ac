"""Run engine work in background QThreads and relay progress, results and errors as signals.

The engine's jobs are generators yielding ``engine.jobs.Progress``; plain
callables work too. ``start(owner, fn)`` runs ``fn(cancel_token)`` in a worker thread; if it
returns a generator, the worker drives it, emitting ``progress`` for every step. The GUI thread
only ever receives signals (queued connections), so it never blocks.
"""

from __future__ import annotations

import contextlib
import gc
import inspect
import traceback
from typing import Any, Callable, Iterator

from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, Slot

from engine.errors import Cancelled, InputError
from engine.jobs import CancelToken, Progress, drain


class _Worker(QObject):
    progress = Signal(object)  # engine.jobs.Progress
    finished = Signal(object)  # the result
    failed = Signal(str, bool)  # message, True when the input was bad (InputError)
    cancelled = Signal()

    def __init__(self, fn: Callable[[CancelToken], Any], token: CancelToken):
        super().__init__()
        self._fn = fn
        self._token = token

    @Slot()
    def run(self) -> None:
        job = None
        try:
            result = self._fn(self._token)
            if inspect.isgenerator(result):
                job = result
                result = drain(job, self._relay)
            self.finished.emit(result)
        except Cancelled:
            if job is not None:
                job.close()  # run the job's own clean-up (e.g. removing partial output) now
            self.cancelled.emit()
        except InputError as e:
            self.failed.emit(str(e), True)
        except Exception as e:  # shown in a dialog; the traceback goes to the log
            traceback.print_exc()
            self.failed.emit(f"{type(e).__name__}: {e}", False)

    def _relay(self, p) -> None:
        """Each item the job yields: Progress goes to the GUI thread; then the cancel check."""
        if isinstance(p, Progress):
            self.progress.emit(p)
        self._token.check()


class JobHandle(QObject):
    """A running job: connect to its signals; ``cancel()`` asks it to stop at the next step."""

    progress = Signal(object)
    finished = Signal(object)
    failed = Signal(str, bool)
    cancelled = Signal()
    done = Signal()  # after any of finished / failed / cancelled, once the thread has stopped

    def __init__(self, fn: Callable[[CancelToken], Any], parent: QObject | None = None):
        super().__init__(parent)
        self.token = CancelToken()
        self._thread = QThread()
        self._worker = _Worker(fn, self.token)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        self._worker.progress.connect(self.progress)
        self._worker.finished.connect(self.finished)
        self._worker.failed.connect(self.failed)
        self._worker.cancelled.connect(self.cancelled)
        # quit() directly from the worker thread (it is thread-safe): a queued call would wait for
        # the GUI thread, which never comes while the GUI thread blocks in wait() (wait_all at exit)
        for sig in (self._worker.finished, self._worker.failed, self._worker.cancelled):
            sig.connect(self._thread.quit, Qt.DirectConnection)
        self._thread.finished.connect(self._on_thread_finished)

    def start(self) -> "JobHandle":
        self._thread.start()
        return self

    def cancel(self) -> None:
        self.token.cancel()

    def is_running(self) -> bool:
        return self._thread.isRunning()

    def wait(self, ms: int = 30_000) -> bool:
        return self._thread.wait(ms)

    def _on_thread_finished(self) -> None:
        self._worker.deleteLater()
        self.done.emit()


_RUNNING: set[JobHandle] = set()  # keep handles alive until their threads finish


def start(fn: Callable[[CancelToken], Any], parent: QObject | None = None) -> JobHandle:
    """Run ``fn(cancel_token)`` in a new QThread; returns the handle (already started).

    Connect to the handle's signals right away: they are delivered through the event loop, so
    nothing is missed between ``start`` and the connections.
    """
    handle = JobHandle(fn, parent)
    _RUNNING.add(handle)
    handle.done.connect(lambda: _RUNNING.discard(handle))
    return handle.start()


def wait_all(ms: int = 30_000) -> None:
    """Cancel and join every running job (at application exit)."""
    for h in list(_RUNNING):
        h.cancel()
    for h in list(_RUNNING):
        h.wait(ms)


class PanelJob:
    """For a controller that runs one job at a time for a panel: it has ``panel`` (with
    ``state`` and ``set_state``), ``job`` (the running JobHandle or None) and a
    ``state_changed`` signal."""

    @property
    def state(self) -> str:
        return self.panel.state

    def _set_state(self, state: str) -> None:
        self.panel.set_state(state)
        self.state_changed.emit(state)

    def is_running(self) -> bool:
        return self.job is not None


# ---------------------------------------------------------------------------- garbage collection
GC_INTERVAL_MS = 500


def _collect() -> None:
    counts, thresholds = gc.get_count(), gc.get_threshold()
    if counts[0] > thresholds[0]:
        generation = 2 if counts[1] > thresholds[1] and counts[2] > thresholds[2] else 1 if counts[1] > thresholds[1] else 0
        gc.collect(generation)


@contextlib.contextmanager
def gui_thread_gc(interval_ms: int = GC_INTERVAL_MS) -> Iterator[None]:
    """While the block runs, Python's cyclic garbage collector runs only in this thread (the GUI
    thread), on a timer, instead of in whichever thread happens to allocate. The studio runs its
    window and event loop inside this block (app.main.run); the GUI tests do the same.

    Why: when the collector frees Python-owned QObjects in a worker thread while the GUI thread
    deletes objects connected to them, the two threads deadlock (each holds what the other waits
    for: a Qt connection lock and the GIL; seen when a training step's imports collected a closed
    window's objects). Collecting in the GUI thread only is what pyqtgraph's GarbageCollector does.

    Call it from the GUI thread, with a QCoreApplication. Inside another such block (the collector
    already off) it changes nothing. On leaving, the GUI thread collects once and the collector
    is on again."""
    if not gc.isenabled():
        yield
        return
    timer = QTimer(interval=interval_ms, timeout=_collect)
    gc.disable()
    timer.start()
    try:
        yield
    finally:
        timer.stop()
        gc.collect()
        gc.enable()
