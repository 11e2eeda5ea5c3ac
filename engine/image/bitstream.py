"""Entropy coding of a tile's integer streams: constriction's ANS coder with compact fitted models.

Like ``engine.codec.entropy`` (fitted categorical models, constriction's ANS over
histograms, which count as side information), but sized for files of a few kB, where
the models are a large share of the file:

- a model is stored as 5 bits per symbol of its range: 0 for an absent symbol, else
  v = 1 + round(−2 log₂ p) (half-octave steps, p >= 2⁻¹⁵); both sides build the probabilities
  2^(−(v−1)/2) from these codes, so they code with the same model;
- all streams of a tile share one ANS coder (one run of 32-bit words, no per-stream padding);
- raw bits (e.g. the low bits of exp-Golomb codes) go into one bit-packed block.

Layout: u8 number of models; per model: zigzag-varint first symbol, varint range K, ⌈5K/8⌉ bytes
of codes; varint length of the raw-bit block in bytes, the block; then the ANS words (u32 LE).
"""

from __future__ import annotations

import constriction
import numpy as np

from engine.errors import InputError

MAX_RANGE = 1 << 16
MAX_CODE = 31


def varint(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def _zigzag(v: int) -> int:
    return (v << 1) if v >= 0 else ((-v << 1) - 1)


def _unzigzag(v: int) -> int:
    return (v >> 1) if not v & 1 else -((v + 1) >> 1)


def _pack_bits(values: np.ndarray, widths: np.ndarray) -> bytes:
    """Concatenate the low ``widths[i]`` bits of ``values[i]``, most significant first."""
    values = np.asarray(values, np.uint64)
    widths = np.asarray(widths, np.int64)
    total = int(widths.sum())
    if total == 0:
        return b""
    owner = np.repeat(np.arange(len(values)), widths)
    pos = np.arange(total) - np.repeat(np.cumsum(widths) - widths, widths)  # bit index within the value
    shift = (np.repeat(widths, widths) - 1 - pos).astype(np.uint64)
    bits = ((values[owner] >> shift) & np.uint64(1)).astype(np.uint8)
    return np.packbits(bits).tobytes()


def _gather_bits(bits: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_pack_bits` over an unpacked bit array (0/1 per element)."""
    widths = np.asarray(widths, np.int64)
    total = int(widths.sum())
    if total > len(bits):
        raise ValueError("raw bits are truncated")
    b = bits[:total].astype(np.uint64)
    owner = np.repeat(np.arange(len(widths)), widths)
    pos = np.arange(total) - np.repeat(np.cumsum(widths) - widths, widths)
    shift = (np.repeat(widths, widths) - 1 - pos).astype(np.uint64)
    out = np.zeros(len(widths), np.uint64)
    np.add.at(out, owner, b << shift)
    return out.astype(np.int64)


def _bit_length(v: np.ndarray) -> np.ndarray:
    """Bit length of non-negative ints below 2^53 (exact through frexp)."""
    return np.where(v > 0, np.frexp(v.astype(np.float64))[1], 0).astype(np.int64)


def _codes(counts: np.ndarray) -> np.ndarray:
    p = counts / counts.sum()
    v = np.where(counts > 0, 1 + np.rint(-2.0 * np.log2(np.maximum(p, 1e-300))), 0)
    return np.clip(v, 0, MAX_CODE).astype(np.uint8) * (counts > 0)


def _probs(codes: np.ndarray) -> np.ndarray:
    p = np.where(codes > 0, np.exp2(-(codes.astype(np.float64) - 1) / 2.0), 0.0)
    return p / p.sum()


def _model(codes: np.ndarray):
    return constriction.stream.model.Categorical(_probs(codes), perfect=False)


class Encoder:
    """Collect streams in decoding order, then :meth:`finish` into bytes."""

    def __init__(self) -> None:
        self._streams: list[tuple[int, np.ndarray, np.ndarray]] = []  # (lo, symbols - lo, codes)
        self._raw: list[tuple[np.ndarray, np.ndarray]] = []

    def categorical(self, values: np.ndarray) -> None:
        """Code ``values`` (ints) with a fitted model; the decoder must ask for the same count."""
        v = np.asarray(values, np.int64).ravel()
        if len(v) == 0:
            self._streams.append((0, v, np.ones(1, np.uint8)))
            return
        lo, hi = int(v.min()), int(v.max())
        if hi - lo + 1 > MAX_RANGE:
            raise ValueError(f"symbol range {hi - lo + 1} is too wide (max {MAX_RANGE})")
        counts = np.bincount(v - lo, minlength=hi - lo + 1)
        self._streams.append((lo, v - lo, _codes(counts)))

    def raw(self, values: np.ndarray, widths: np.ndarray) -> None:
        self._raw.append((np.asarray(values, np.int64).ravel(), np.asarray(widths, np.int64).ravel()))

    def exp_golomb(self, values: np.ndarray) -> None:
        """Non-negative ints: the bit length coded with a fitted model, the bits below the
        leading one raw (near the entropy of geometric-like values)."""
        v = np.asarray(values, np.int64).ravel()
        if (v < 0).any():
            raise ValueError("exp-Golomb values must be non-negative")
        if (v >= 1 << 53).any():
            raise ValueError("exp-Golomb values must be below 2^53")
        e = _bit_length(v)
        self.categorical(e)
        self.raw(v - np.where(v > 0, np.int64(1) << np.maximum(e - 1, 0), 0), np.maximum(e - 1, 0))

    def finish(self) -> bytes:
        if len(self._streams) > 255:
            raise ValueError("too many streams")
        head = bytearray([len(self._streams)])
        for lo, _, codes in self._streams:
            head += varint(_zigzag(lo)) + varint(len(codes)) + _pack_bits(codes, np.full(len(codes), 5))
        if self._raw:
            raw = _pack_bits(np.concatenate([r[0] for r in self._raw]), np.concatenate([r[1] for r in self._raw]))
        else:
            raw = b""
        head += varint(len(raw)) + raw
        coder = constriction.stream.stack.AnsCoder()
        for _, sym, codes in reversed(self._streams):  # LIFO: the first stream decodes first
            if len(sym) and int((codes > 0).sum()) > 1:
                coder.encode_reverse(sym.astype(np.int32), _model(codes))
        return bytes(head) + np.asarray(coder.get_compressed(), "<u4").tobytes()


class Decoder:
    """Read streams back in the order they were written; every problem is an InputError."""

    def __init__(self, data: bytes, path: str | None = None) -> None:
        self.path = path
        self._pos = 0
        self._data = data
        try:
            n = self._byte()
            self._models = []
            for _ in range(n):
                lo = _unzigzag(self._uvarint())
                k = self._uvarint()
                if not 1 <= k <= MAX_RANGE:
                    raise ValueError("bad model range")
                nbytes = (5 * k + 7) // 8
                codes = _gather_bits(np.unpackbits(np.frombuffer(self._take(nbytes), np.uint8)), np.full(k, 5))
                codes = codes.astype(np.uint8)
                if not (codes > 0).any():
                    raise ValueError("empty model")
                self._models.append((lo, codes))
            raw_len = self._uvarint()
            self._raw = np.unpackbits(np.frombuffer(self._take(raw_len), np.uint8))
            rest = data[self._pos :]
            if len(rest) % 4:
                raise ValueError("the coded data is not whole 32-bit words")
            words = np.frombuffer(rest, "<u4").astype(np.uint32)
        except (ValueError, IndexError) as e:
            raise InputError(path, f"corrupt Gaussian data ({e})") from None
        self._coder = constriction.stream.stack.AnsCoder(words.copy()) if len(words) else constriction.stream.stack.AnsCoder()
        self._next = 0
        self._raw_bits_used = 0

    def _byte(self) -> int:
        if self._pos >= len(self._data):
            raise ValueError("truncated")
        self._pos += 1
        return self._data[self._pos - 1]

    def _uvarint(self) -> int:
        v, shift = 0, 0
        while True:
            b = self._byte()
            v |= (b & 0x7F) << shift
            if not b & 0x80:
                return v
            shift += 7
            if shift > 63:
                raise ValueError("varint too long")

    def _take(self, n: int) -> bytes:
        if self._pos + n > len(self._data):
            raise ValueError("truncated")
        self._pos += n
        return self._data[self._pos - n : self._pos]

    def categorical(self, count: int) -> np.ndarray:
        if self._next >= len(self._models):
            raise InputError(self.path, "corrupt Gaussian data (fewer streams than expected)")
        lo, codes = self._models[self._next]
        self._next += 1
        if count == 0:
            return np.zeros(0, np.int64)
        if int((codes > 0).sum()) == 1:
            return np.full(count, lo + int(np.argmax(codes > 0)), np.int64)
        try:
            sym = np.asarray(self._coder.decode(_model(codes), count), np.int64)
        except Exception as e:  # constriction reports exhausted or invalid data as its own errors
            raise InputError(self.path, f"corrupt Gaussian data ({e})") from None
        if (codes[sym] == 0).any():
            raise InputError(self.path, "corrupt Gaussian data (a symbol outside its model)")
        return sym + lo

    def raw(self, widths: np.ndarray) -> np.ndarray:
        widths = np.asarray(widths, np.int64)
        start, total = self._raw_bits_used, int(widths.sum())
        if start + total > len(self._raw):
            raise InputError(self.path, "corrupt Gaussian data (raw bits are truncated)")
        self._raw_bits_used += total
        return _gather_bits(self._raw[start : start + total], widths)

    def exp_golomb(self, count: int) -> np.ndarray:
        e = self.categorical(count)
        if (e < 0).any() or (e > 62).any():
            raise InputError(self.path, "corrupt Gaussian data (bad exp-Golomb length)")
        low = self.raw(np.maximum(e - 1, 0))
        return np.where(e > 0, (np.int64(1) << np.maximum(e - 1, 0)) + low, 0)

    def check_end(self) -> None:
        """The tile's data must be consumed exactly (trailing garbage means corruption)."""
        if self._next != len(self._models) or not self._coder.is_empty():
            raise InputError(self.path, "corrupt Gaussian data (unused coded data)")
        if len(self._raw) - self._raw_bits_used >= 8:
            raise InputError(self.path, "corrupt Gaussian data (unused raw bits)")
