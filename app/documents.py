"""Open scenes and which two are compared (no Qt: plain Python with change callbacks)."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from engine.edit import EditSession
from engine.framing import cameras_beside
from engine.scene import GaussianScene

_ids = itertools.count(1)


def human_bytes(n: int | None) -> str:
    if n is None:
        return "in memory"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000.0
    return f"{n:.1f} GB"


@dataclass(eq=False)
class Document:
    """One open scene: what it is called, where it came from and how big its file is."""

    name: str
    scene: GaussianScene
    path: str | None = None
    file_bytes: int | None = None
    # what its home view is made from (engine.camera.home_view): the user's up axis (None: chosen
    # by engine.framing) and the camera-to-world matrices [K, 4, 4] of its capture, when known
    up: np.ndarray | None = None
    cameras: np.ndarray | None = None
    id: int = field(default_factory=lambda: next(_ids))
    # the edits made to it (engine.edit: selection, hidden, deleted, transforms, undo); created on
    # the first edit. It belongs to ``scene``: a live job that replaces the scene leaves it behind.
    edit: EditSession | None = None

    @classmethod
    def from_file(cls, path: str, scene: GaussianScene) -> "Document":
        """A scene read from ``path``; a cameras.json beside it (INRIA's layout) gives its cameras."""
        return cls(os.path.basename(path), scene, path, os.path.getsize(path), cameras=cameras_beside(path))

    def editing(self) -> EditSession:
        """The document's edit session, created on first use (for the scene it has now)."""
        if self.edit is None or self.edit.scene is not self.scene:
            self.edit = EditSession(self.scene)
            self.scene = self.edit.scene  # a baked neural scene loses its networks when edited
        return self.edit

    @property
    def session(self) -> EditSession | None:
        """The edit session of the scene shown now, or None (never edited, or the scene replaced)."""
        return self.edit if self.edit is not None and self.edit.scene is self.scene else None

    def result_scene(self) -> GaussianScene:
        """What saving, exporting and compressing use: the scene without its deleted splats."""
        session = self.session
        return session.result_scene() if session is not None else self.scene

    @property
    def modified(self) -> bool:
        """True when it has edits that are not saved."""
        session = self.session
        return session is not None and session.modified

    @property
    def edit_revision(self) -> int:
        """Changes with every edit (0: never edited)."""
        session = self.session
        return session.revision if session is not None else 0

    @property
    def label(self) -> str:
        return f"{self.name} · {human_bytes(self.file_bytes)} · {self.scene.count:,} splats"


class Workspace:
    """The open documents and the A/B assignment. ``a`` is what the viewport shows; ``b`` is
    what A is compared against (any two open scenes can be compared)."""

    def __init__(self) -> None:
        self.documents: list[Document] = []
        self.a: Document | None = None
        self.b: Document | None = None
        self._listeners: list[Callable[[], None]] = []

    def subscribe(self, fn: Callable[[], None]) -> None:
        self._listeners.append(fn)

    def _emit(self) -> None:
        for fn in list(self._listeners):
            fn()

    def add(self, doc: Document, make_current: bool = True) -> Document:
        self.documents.append(doc)
        if make_current or self.a is None:
            self.a = doc
        self._emit()
        return doc

    def notify(self) -> None:
        """Something about a document changed (its name or path after a save): listeners refresh."""
        self._emit()

    def replace_scene(self, doc: Document, scene: GaussianScene) -> None:
        """A live job produced a new version of ``doc``'s scene."""
        doc.scene = scene
        self._emit()

    def remove(self, doc: Document) -> None:
        self.documents = [d for d in self.documents if d is not doc]
        if self.a is doc:
            self.a = self.documents[-1] if self.documents else None
        if self.b is doc:
            self.b = None
        self._emit()

    def set_a(self, doc: Document | None) -> None:
        self.a = doc
        self._emit()

    def set_b(self, doc: Document | None) -> None:
        self.b = doc
        self._emit()

    def swap(self) -> None:
        self.a, self.b = self.b, self.a
        self._emit()
