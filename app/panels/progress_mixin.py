"""Shared widget behaviour of the panels that run one background job and show its progress."""

from __future__ import annotations


class JobStatusMixin:
    """For a panel with ``source`` and ``status`` labels and a ``progress`` bar."""

    def set_source(self, text: str) -> None:
        self.source.setText(text)

    def show_message(self, text: str) -> None:
        self.status.setText(text)

    def show_progress(self, step: int, total: int, message: str) -> None:
        self.progress.setRange(0, max(int(total), 1))
        self.progress.setValue(min(int(step), max(int(total), 1)))
        self.status.setText(message)
