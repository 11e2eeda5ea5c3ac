"""Where work runs, and how long each training job runs by default there.

One home for the device choice (``auto`` = CUDA when torch sees a GPU, else the CPU) and for the
per-job step counts: every command that trains (``train``, ``compress --codec smol``, ``image
compress``, ``distill``) and the studio's panels take their defaults from here, so the CLI and the
GUI agree. On the CPU the defaults finish in minutes at the CPU image sizes; on CUDA they are the
papers' full recipes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.errors import InputError

if TYPE_CHECKING:  # torch is imported when a device is resolved, so `splatlab --help` stays quick
    import torch

DEVICES = ("auto", "cpu", "cuda")


def cuda_available() -> bool:
    """True when torch can use a CUDA GPU (the only test: never decided by trying a kernel)."""
    import torch

    return bool(torch.cuda.is_available())


def resolve_device(name: str = "auto") -> "torch.device":
    """``auto`` | ``cpu`` | ``cuda`` -> a torch device; ``cuda`` without a GPU is bad input."""
    import torch

    if name not in DEVICES:
        raise InputError(None, f"unknown device {name!r} (choose from {', '.join(DEVICES)})")
    if name == "auto":
        return torch.device("cuda" if cuda_available() else "cpu")
    if name == "cuda" and not cuda_available():
        raise InputError(None, "--device cuda was asked for, but this machine has no CUDA GPU")
    return torch.device(name)


@dataclass(frozen=True)
class JobDefaults:
    """A training job's default length (and image size, where it has one) per device."""

    cpu_iterations: int
    cuda_iterations: int
    cpu_max_side: int | None = None  # None: the capture's full size
    cuda_max_side: int | None = None

    def iterations(self, device: str = "auto") -> int:
        return self.cuda_iterations if resolve_device(device).type == "cuda" else self.cpu_iterations

    def max_side(self, device: str = "auto") -> int | None:
        return self.cuda_max_side if resolve_device(device).type == "cuda" else self.cpu_max_side

    def help(self, what: str = "training steps") -> str:
        """The sentence ``--help`` shows, e.g. 'training steps (default 3000 on the CPU, 30000 on CUDA)'."""
        return f"{what} (default {self.cpu_iterations} on the CPU, {self.cuda_iterations} on CUDA)"


# 3DGS (arXiv 2308.04079): INRIA's 30k steps on CUDA; on the CPU 3000 steps at 200 px (README,
# Benchmarks, "Training").
TRAIN = JobDefaults(cpu_iterations=3000, cuda_iterations=30_000, cpu_max_side=200, cuda_max_side=None)
# Smol-GS (arXiv 2512.00850): 35k steps in the paper; 3000 on the CPU.
SMOL = JobDefaults(cpu_iterations=3000, cuda_iterations=35_000, cpu_max_side=200, cuda_max_side=None)
# SmartSplat (arXiv 2512.20377): steps per image tile.
IMAGE = JobDefaults(cpu_iterations=500, cuda_iterations=10_000)
# Distilled-3DGS (arXiv 2508.14037): every teacher and the student run this many steps.
DISTILL = JobDefaults(cpu_iterations=1500, cuda_iterations=30_000, cpu_max_side=200, cuda_max_side=None)
