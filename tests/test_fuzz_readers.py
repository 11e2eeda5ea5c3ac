"""Fuzzing: mutated bytes of every format, fed to every reader, may only raise InputError.

Seeds are small valid files of each registered format (engine.io.FORMATS, so new formats are
covered as they register) written by our writers, plus an ASCII PLY and an SPZ v3. Mutations:
byte flips, truncation, insertion, deletion, and overwriting 4-byte fields with extreme
integers (headers that lie about counts and sizes). Each read runs with a time limit: a hang
fails the test.
"""

from __future__ import annotations

import os
import signal
import struct
import tempfile

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import io
from engine.errors import InputError
from tests.conftest import random_scene

READ_SECONDS = 10


def _seed_files() -> dict[str, bytes]:
    scene = random_scene(40, sh_degree=1, seed=11)
    scene.quats[0] = torch.tensor([0.9, 0.1, -0.2, 0.3])
    seeds = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in sorted(io.FORMATS):
            variants = {name: {}}
            if name == "ply":
                variants["ply-ascii"] = {"ascii": True}
            if name == "spz":
                variants["spz-v3"] = {"version": 3}
            for label, opts in variants.items():
                path = os.path.join(tmp, "seed." + name)
                io.save(scene, path, **opts)
                with open(path, "rb") as f:
                    seeds[label] = f.read()
    return seeds


SEEDS = _seed_files()
EXTENSION = {label: label.split("-")[0] for label in SEEDS}


@st.composite
def mutated(draw):
    label = draw(st.sampled_from(sorted(SEEDS)))
    data = bytearray(SEEDS[label])
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "int32"]))
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[pos] ^= draw(st.integers(1, 255))
        elif kind == "truncate":
            del data[pos:]
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[pos : pos + draw(st.integers(1, 16))]
        else:
            value = draw(st.sampled_from([0, 1, 0x7FFFFFFF, 0xFFFFFFFF, 0x80000000, 123456789]))
            data[pos : pos + 4] = struct.pack("<I", value)
    return label, bytes(data)


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout()


def _read_only_input_errors(path: str) -> None:
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(READ_SECONDS)
    try:
        io.load(path)
    except InputError as e:
        assert os.path.basename(path) in str(e), f"error message does not name the file: {e}"
    except _Timeout:
        pytest.fail(f"reading {path} did not finish within {READ_SECONDS} s")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=mutated())
def test_mutated_files_raise_only_input_error(case):
    label, data = case
    with tempfile.TemporaryDirectory() as tmp:
        # the mutated bytes go to their own reader and, renamed, to every other reader
        for ext in sorted({EXTENSION[label]} | set(io.FORMATS)):
            path = os.path.join(tmp, "fuzzed." + ext)
            with open(path, "wb") as f:
                f.write(data)
            _read_only_input_errors(path)


@pytest.mark.parametrize("label", sorted(SEEDS))
def test_seeds_read_back(label):
    """The seeds themselves are valid (so the fuzzing starts from real files)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "seed." + EXTENSION[label])
        with open(path, "wb") as f:
            f.write(SEEDS[label])
        assert io.load(path).count == 40


@pytest.mark.parametrize("label", sorted(SEEDS))
def test_empty_and_tiny_files(label):
    with tempfile.TemporaryDirectory() as tmp:
        for data in (b"", b"\x00", SEEDS[label][:3]):
            path = os.path.join(tmp, "tiny." + EXTENSION[label])
            with open(path, "wb") as f:
                f.write(data)
            with pytest.raises(InputError):
                io.load(path)
