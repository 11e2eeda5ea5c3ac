"""The edit history: undo/redo as compact diffs, never copies of the scene.

Two kinds of records:

- :class:`StateEdit`: a change of the per-splat state bits (engine.edit.state). Stored as the XOR
  of old and new state, grouped by its value (at most 7 groups: the bits that flipped together),
  each group an :class:`IndexSet`. XOR is its own inverse, so undo and redo are the same operation
  and restore the state bit for bit.
- transform records (engine.edit.transform.TransformEdit): the transform itself (a 4x4 matrix or
  a mirror axis), the splats it moved as an :class:`IndexSet`, and, where float32 round-off makes
  the exact inverse miss the original values, a compressed *residual* (:func:`encode_residual`).

An :class:`IndexSet` is a set of splat indices in ``[0, n)`` held in whichever of three encodings
is smallest for it: ``runs`` (int32 ``[start, stop)`` pairs, 8 bytes a run: a box, a sphere, a
whole scene), ``bits`` (``np.packbits`` of the mask, n/8 bytes: a scattered selection) or
``zbits`` (the packed mask through zstd: scattered but clustered). So no state edit costs more
than n/8 bytes (145 KB on a 1.16 M-splat scene).

A residual holds, per float32 value, the integer difference of the bit patterns (the distance
in units in the last place for values of one sign) between the original value and what the
inverse transform gives back: a bit mask of the values that differ (packed, zstd) and their
differences (zig-zag coded, split into byte planes, zstd). Most differences are 0 and most
others +-1 ulp, so a residual costs a few bits a value where a copy would cost 32 (the measured
cost of each kind of edit is in the README, "Editing").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import zstandard

_ZSTD_LEVEL = 3


# ---------------------------------------------------------------------- index sets
@dataclass(frozen=True)
class IndexSet:
    """A set of indices in ``[0, n)``, compactly encoded (see the module docstring)."""

    n: int
    count: int
    encoding: str  # "runs" | "bits" | "zbits"
    data: object  # runs: int32 [R, 2]; bits: uint8 [ceil(n/8)]; zbits: bytes

    @classmethod
    def from_mask(cls, mask: np.ndarray) -> "IndexSet":
        """From a bool mask [n]."""
        mask = np.asarray(mask, dtype=bool)
        return cls._build(mask.shape[0], np.flatnonzero(mask), mask)

    @classmethod
    def from_indices(cls, idx: np.ndarray, n: int) -> "IndexSet":
        """From sorted, unique indices [k] into [0, n)."""
        return cls._build(n, np.asarray(idx, dtype=np.int64), None)

    @classmethod
    def all(cls, n: int) -> "IndexSet":
        runs = np.array([[0, n]] if n else np.zeros((0, 2)), dtype=np.int32 if n < 2**31 else np.int64)
        return cls(n, n, "runs", runs)

    @classmethod
    def _build(cls, n: int, idx: np.ndarray, mask: np.ndarray | None) -> "IndexSet":
        k = int(idx.shape[0])
        if k == 0:
            return cls(n, 0, "runs", np.zeros((0, 2), np.int32))
        breaks = np.flatnonzero(np.diff(idx) != 1)  # last index of each run but the last
        starts = np.concatenate([idx[:1], idx[breaks + 1]])
        stops = np.concatenate([idx[breaks] + 1, idx[-1:] + 1])
        run_bytes = 8 * starts.shape[0]
        bits_bytes = (n + 7) // 8
        if run_bytes <= bits_bytes:
            dtype = np.int32 if n < 2**31 else np.int64
            return cls(n, k, "runs", np.stack([starts, stops], 1).astype(dtype))
        if mask is None:
            mask = np.zeros(n, dtype=bool)
            mask[idx] = True
        packed = np.packbits(mask)
        z = zstandard.ZstdCompressor(level=_ZSTD_LEVEL).compress(packed.tobytes())
        if len(z) < packed.nbytes:
            return cls(n, k, "zbits", z)
        return cls(n, k, "bits", packed)

    @property
    def nbytes(self) -> int:
        return len(self.data) if isinstance(self.data, bytes) else int(self.data.nbytes)

    def mask(self) -> np.ndarray:
        """bool [n]."""
        if self.encoding == "runs":
            m = np.zeros(self.n, dtype=bool)
            for start, stop in self.data:
                m[start:stop] = True
            return m
        return np.unpackbits(self._packed(), count=self.n).astype(bool)

    def indices(self) -> np.ndarray:
        """int64 [count], ascending."""
        if self.encoding != "runs":
            return np.flatnonzero(self._packed_bits())
        runs = self.data.astype(np.int64)
        if runs.shape[0] == 0:
            return np.zeros(0, np.int64)
        lengths = runs[:, 1] - runs[:, 0]  # [R]
        offsets = np.repeat(runs[:, 0] - (np.cumsum(lengths) - lengths), lengths)
        return np.arange(int(lengths.sum()), dtype=np.int64) + offsets

    def _packed(self) -> np.ndarray:
        if self.encoding == "bits":
            return self.data
        raw = zstandard.ZstdDecompressor().decompress(self.data, max_output_size=(self.n + 7) // 8)
        return np.frombuffer(raw, dtype=np.uint8)

    def _packed_bits(self) -> np.ndarray:
        return np.unpackbits(self._packed(), count=self.n)

    def is_all(self) -> bool:
        return self.count == self.n


# ---------------------------------------------------------------------- residuals
def encode_residual(original: np.ndarray, recovered: np.ndarray) -> bytes | None:
    """What turns ``recovered`` (float32, any shape) back into ``original`` bit for bit; None when
    they are already identical. See the module docstring for the coding."""
    a = np.ascontiguousarray(original, dtype=np.float32).view(np.int32).astype(np.int64).ravel()
    b = np.ascontiguousarray(recovered, dtype=np.float32).view(np.int32).astype(np.int64).ravel()
    d = a - b  # |d| < 2^32
    nonzero = d != 0
    if not nonzero.any():
        return None
    v = d[nonzero]
    z = ((v << 1) ^ (v >> 63)).astype(np.uint64) - 1  # zig-zag less one: -1, 1, -2, 2, ... -> 0, 1, 2, 3, ...
    top = int(z.max())
    width = 1 if top < 2**8 else 2 if top < 2**16 else 4 if top < 2**32 else 8
    planes = np.ascontiguousarray(z.astype(f"<u{width}").view(np.uint8).reshape(-1, width).T)  # [width, nnz]
    zc = zstandard.ZstdCompressor(level=_ZSTD_LEVEL)
    flags = zc.compress(np.packbits(nonzero).tobytes())
    return bytes([width]) + len(flags).to_bytes(4, "little") + flags + zc.compress(planes.tobytes())


def apply_residual(recovered: np.ndarray, residual: bytes | None) -> np.ndarray:
    """The original float32 values from ``recovered`` and :func:`encode_residual`'s output."""
    rec = np.ascontiguousarray(recovered, dtype=np.float32)
    if residual is None:
        return rec.copy()
    width, count = residual[0], rec.size
    nflags = int.from_bytes(residual[1:5], "little")
    dz = zstandard.ZstdDecompressor()
    packed = np.frombuffer(dz.decompress(residual[5 : 5 + nflags], max_output_size=(count + 7) // 8), dtype=np.uint8)
    nonzero = np.unpackbits(packed, count=count).astype(bool)
    nnz = int(nonzero.sum())
    raw = dz.decompress(residual[5 + nflags :], max_output_size=width * nnz)
    z = np.frombuffer(raw, dtype=np.uint8).reshape(width, nnz).T.copy().view(f"<u{width}").ravel().astype(np.int64) + 1
    bits = rec.view(np.int32).astype(np.int64).ravel()
    bits[nonzero] += (z >> 1) ^ -(z & 1)
    return bits.astype(np.int32).view(np.float32).reshape(rec.shape)


# ---------------------------------------------------------------------- records
class Edit(Protocol):
    """One undoable step: ``apply`` (re)does it on a session, ``revert`` undoes it."""

    label: str

    def apply(self, session) -> None: ...

    def revert(self, session) -> None: ...

    @property
    def nbytes(self) -> int: ...


@dataclass
class StateEdit:
    """A change of state bits: ``state[i] ^= bits`` for every (bits, splats) part."""

    label: str
    parts: list[tuple[int, IndexSet]]

    @classmethod
    def between(cls, old: np.ndarray, new: np.ndarray, label: str) -> "StateEdit | None":
        """The edit turning state ``old`` [N] uint8 into ``new``; None when they are equal."""
        delta = np.bitwise_xor(old, new)  # [N] uint8
        changed = np.flatnonzero(delta)
        if changed.size == 0:
            return None
        values = delta[changed]
        parts = []
        for v in np.unique(values):
            parts.append((int(v), IndexSet.from_indices(changed[values == v], old.shape[0])))
        return cls(label, parts)

    def _flip(self, session) -> None:
        for bits, splats in self.parts:
            if splats.is_all():
                session.state ^= np.uint8(bits)
            else:
                session.state[splats.indices()] ^= np.uint8(bits)

    def apply(self, session) -> None:
        self._flip(session)

    def revert(self, session) -> None:
        self._flip(session)

    @property
    def count(self) -> int:
        """Splats whose state changed."""
        return sum(s.count for _, s in self.parts)

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for _, s in self.parts) + 16 * len(self.parts)


@dataclass
class History:
    """Undo/redo stack of :class:`Edit` records.

    ``max_bytes``: when the records together exceed it, the oldest are forgotten (they can no
    longer be undone). None: keep everything."""

    max_bytes: int | None = None
    edits: list = field(default_factory=list)
    position: int = 0  # edits[:position] are done, edits[position:] can be redone
    dropped: int = 0  # records forgotten at the bottom

    def push(self, edit) -> None:
        """Record an edit that has just been applied (the redo tail is discarded)."""
        del self.edits[self.position :]
        self.edits.append(edit)
        self.position = len(self.edits)
        if self.max_bytes is not None:
            while len(self.edits) > 1 and self.nbytes > self.max_bytes:
                self.edits.pop(0)
                self.position -= 1
                self.dropped += 1

    @property
    def can_undo(self) -> bool:
        return self.position > 0

    @property
    def can_redo(self) -> bool:
        return self.position < len(self.edits)

    def undo(self, session):
        """Revert the last done edit; returns it (None when there is nothing to undo)."""
        if not self.can_undo:
            return None
        self.position -= 1
        edit = self.edits[self.position]
        edit.revert(session)
        return edit

    def redo(self, session):
        """Apply the next undone edit again; returns it (None when there is none)."""
        if not self.can_redo:
            return None
        edit = self.edits[self.position]
        edit.apply(session)
        self.position += 1
        return edit

    @property
    def undo_label(self) -> str | None:
        return self.edits[self.position - 1].label if self.can_undo else None

    @property
    def redo_label(self) -> str | None:
        return self.edits[self.position].label if self.can_redo else None

    def top(self):
        """A token of the current version: the last done edit (None: the unedited scene)."""
        if self.position:
            return self.edits[self.position - 1]
        return _FORGOTTEN if self.dropped else None

    @property
    def nbytes(self) -> int:
        """Memory held by the records (their arrays and compressed blobs)."""
        return sum(e.nbytes for e in self.edits)

    def clear(self) -> None:
        """Forget every record (the current version stays what it is)."""
        self.dropped += self.position
        self.edits.clear()
        self.position = 0


_FORGOTTEN = object()  # History.top() below forgotten records: not the unedited scene
