"""Entropy coding of integer streams through constriction's ANS coder (no hand-written coder).

A stream of integers is coded with a *fitted* categorical model: the encoder counts how often
each value occurs, stores those counts (zlib-compressed, so sparse histograms cost little), and
both sides build the same model from them. Values can be split by a *context* the decoder
already knows (e.g. octree depth); each context gets its own fitted model, which is how the
coders here condition on what was decoded before.

Byte layout of one coded stream (``encode``):
    u32 number of contexts C, then per context: i32 min value, u32 K (histogram bins),
    u32 length L, then L bytes: a width flag (0: u16 counts, 1: u32) and the zlib-compressed
    counts; then u32 words of ANS data.
"""

from __future__ import annotations

import struct
import zlib

import constriction
import numpy as np

from engine.errors import InputError

MAX_BINS = 1 << 20
_U32 = struct.Struct("<I")
_CTX = struct.Struct("<iII")


def _model(counts: np.ndarray):
    probs = counts.astype(np.float64) / float(counts.sum())
    return constriction.stream.model.Categorical(probs, perfect=False)


def encode(values: np.ndarray, contexts: np.ndarray | None = None, n_contexts: int = 1) -> bytes:
    """Code ``values`` (1-D ints). ``contexts`` (same length, in [0, n_contexts)) selects the model
    per value; the decoder must be given the same contexts."""
    values = np.asarray(values, np.int64).ravel()
    if contexts is None:
        contexts = np.zeros(len(values), np.int64)
    contexts = np.asarray(contexts, np.int64).ravel()
    header = [_U32.pack(n_contexts)]
    coder = constriction.stream.stack.AnsCoder()
    per_ctx = []
    for c in range(n_contexts):
        v = values[contexts == c]
        if len(v) == 0:
            header.append(_CTX.pack(0, 0, 0))
            per_ctx.append(None)
            continue
        lo, hi = int(v.min()), int(v.max())
        k = hi - lo + 1
        if k > MAX_BINS:
            raise ValueError(f"value range {k} is too wide to entropy-code (max {MAX_BINS}); quantise more coarsely")
        counts = np.bincount(v - lo, minlength=k)
        wide = int(counts.max() >= 1 << 16)  # u16 counts when they fit: half the side information
        packed = bytes([wide]) + zlib.compress(counts.astype(np.uint32 if wide else np.uint16).tobytes(), 9)
        header.append(_CTX.pack(lo, k, len(packed)) + packed)
        per_ctx.append((v - lo, counts))
    # ANS is last-in first-out: code the contexts in reverse so they decode in order
    for item in reversed(per_ctx):
        if item is None:
            continue
        symbols, counts = item
        if len(counts) == 1:
            continue  # a single possible value costs no bits
        coder.encode_reverse(symbols.astype(np.int32), _model(counts))
    words = coder.get_compressed()
    return b"".join(header) + np.asarray(words, np.uint32).tobytes()


def decode(data: bytes, contexts: np.ndarray | None, count: int, path: str | None = None) -> np.ndarray:
    """Inverse of :func:`encode`: ``count`` values, given the same contexts."""
    if contexts is None:
        contexts = np.zeros(count, np.int64)
    contexts = np.asarray(contexts, np.int64).ravel()
    if len(contexts) != count:
        raise InputError(path, "corrupt stream: context count mismatch")
    try:
        (n_ctx,) = _U32.unpack_from(data, 0)
        pos = _U32.size
        models = []
        for _ in range(n_ctx):
            lo, k, nbytes = _CTX.unpack_from(data, pos)
            pos += _CTX.size
            if k == 0:
                models.append(None)
                continue
            if k > MAX_BINS:
                raise InputError(path, "corrupt stream: histogram too large")
            blob = data[pos : pos + nbytes]
            if not blob or blob[0] > 1:
                raise InputError(path, "corrupt stream: bad histogram header")
            dtype = np.uint32 if blob[0] else np.uint16
            counts = np.frombuffer(zlib.decompress(blob[1:], bufsize=4 * k), dtype).astype(np.uint32)
            pos += nbytes
            if len(counts) != k or counts.sum() == 0:
                raise InputError(path, "corrupt stream: bad histogram")
            models.append((lo, counts))
        words = np.frombuffer(data[pos:], np.uint32) if (len(data) - pos) % 4 == 0 else None
    except (struct.error, zlib.error, ValueError) as e:
        raise InputError(path, f"corrupt stream ({e})") from None
    if words is None:
        raise InputError(path, "corrupt stream: the coded data is not whole 32-bit words")
    if len(models) != n_ctx or (count and contexts.max(initial=0) >= n_ctx):
        raise InputError(path, "corrupt stream: context out of range")
    out = np.zeros(count, np.int64)
    coder = constriction.stream.stack.AnsCoder(words.copy()) if len(words) else constriction.stream.stack.AnsCoder()
    for c, item in enumerate(models):
        sel = contexts == c
        n = int(sel.sum())
        if n == 0:
            continue
        if item is None:
            raise InputError(path, "corrupt stream: values for an empty context")
        lo, counts = item
        if len(counts) == 1:
            out[sel] = lo
            continue
        try:
            sym = coder.decode(_model(counts), n)
        except Exception as e:  # constriction reports exhausted/invalid data as its own errors
            raise InputError(path, f"corrupt stream ({e})") from None
        out[sel] = np.asarray(sym, np.int64) + lo
    return out
