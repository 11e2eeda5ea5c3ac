"""Training settings (3DGS, arXiv 2308.04079, as the INRIA code runs it;
gsplat 1.5.3 strategies).

``TrainConfig()`` is the full 30k-iteration recipe. For short runs (the CPU), ``for_iterations``
compresses the densification schedule into the run's length so that growth, pruning, opacity
resets and SH-band steps all still happen.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from engine.errors import InputError

from engine.device import DEVICES, TRAIN
from engine.metrics import SSIM_WEIGHT

STRATEGIES = ("default", "mcmc")


@dataclass
class TrainConfig:
    iterations: int = TRAIN.cuda_iterations  # the full recipe; engine.device.TRAIN has the CPU default
    max_side: int | None = None  # downsample images so their longest side is at most this
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    strategy: str = "default"  # default (INRIA densification, via gsplat) | mcmc (budget)
    cap_max: int = 1_000_000  # MCMC: the Gaussian budget
    sh_degree: int = 3
    sh_degree_interval: int = 1000  # raise the active SH degree every this many steps
    ssim_lambda: float = SSIM_WEIGHT  # loss = (1 - l) L1 + l (1 - SSIM) (engine.metrics.photometric_loss)
    # initialisation without SfM points: random points where the cameras look;
    # None: INRIA's 100,000 on CUDA, 20,000 on the CPU (fewer, larger splats train faster there)
    init_points: int | None = None
    init_opacity: float = 0.1
    # learning rates (INRIA 2024 revision: opacity 0.025; means scaled by the scene extent)
    lr_means: float = 1.6e-4
    lr_means_final: float = 1.6e-6
    lr_sh0: float = 2.5e-3
    lr_shN: float = 2.5e-3 / 20
    lr_opacities: float = 0.025
    lr_scales: float = 5e-3
    lr_quats: float = 1e-3
    # densification (DefaultStrategy)
    refine_start: int = 500
    refine_stop: int = 15_000
    refine_every: int = 100
    reset_every: int = 3_000
    grow_grad2d: float = 2e-4
    prune_opa: float = 0.005
    # MCMC regularisers (gsplat preset)
    opacity_reg: float = 0.01
    scale_reg: float = 0.01
    # bookkeeping
    log_every: int = 20
    checkpoint_every: int = 500
    snapshot_seconds: float = 3.0  # how often a preview scene is yielded (GUI)

    def validate(self) -> "TrainConfig":
        if self.iterations < 1 or self.iterations > 10_000_000:
            raise InputError(None, f"--iterations {self.iterations} is out of range (1-10,000,000)")
        if self.max_side is not None and not 8 <= self.max_side <= 16384:
            raise InputError(None, f"--max-side {self.max_side} is out of range (8-16384)")
        if self.strategy not in STRATEGIES:
            raise InputError(None, f"unknown strategy {self.strategy!r} (choose from {', '.join(STRATEGIES)})")
        if self.device not in DEVICES:
            raise InputError(None, f"unknown device {self.device!r} (choose from {', '.join(DEVICES)})")
        if not 0 <= self.sh_degree <= 3:
            raise InputError(None, f"SH degree {self.sh_degree} is out of range (0-3)")
        if self.cap_max < 1:
            raise InputError(None, "--cap-max must be positive")
        if self.init_points is not None and self.init_points < 1:
            raise InputError(None, "--init-points must be positive")
        return self

    @classmethod
    def from_options(cls, *, iterations: int | None = None, max_side: int | None = None, device: str = "auto",
                     seed: int = 0, strategy: str = "default", cap_max: int | None = None,
                     init_points: int | None = None, sh_degree: int = 3) -> "TrainConfig":  # fmt: skip
        """A run's config from what the user chose: ``splatlab train``'s options and the Train
        panel's fields both come through here, so the same choices give the same run.

        None means the default: ``iterations`` and ``max_side`` per device (engine.device.TRAIN),
        the rest as above; ``max_side`` 0 means full size. The result is validated (InputError
        for values out of range) and its schedule fitted to the run's length (:meth:`for_iterations`).
        """
        cfg = cls(
            iterations=int(iterations if iterations is not None else TRAIN.iterations(device)),
            max_side=(max_side if max_side is not None else TRAIN.max_side(device)) or None,
            seed=int(seed), device=device, strategy=strategy,
            cap_max=int(cap_max if cap_max is not None else cls.cap_max),
            init_points=None if init_points is None else int(init_points), sh_degree=int(sh_degree),
        )  # fmt: skip
        return cfg.validate().for_iterations(cfg.iterations)

    def for_iterations(self, iterations: int) -> "TrainConfig":
        """This recipe squeezed into ``iterations`` steps (schedule fractions kept)."""
        r = min(1.0, iterations / TRAIN.cuda_iterations)
        s = lambda v, lo=1: max(lo, int(round(v * r)))  # noqa: E731
        return dataclasses.replace(
            self,
            iterations=iterations,
            refine_start=s(self.refine_start, 10),
            refine_stop=s(self.refine_stop, 20),
            refine_every=s(self.refine_every, 10),
            reset_every=s(self.reset_every, 50),
            sh_degree_interval=s(self.sh_degree_interval, 10),
            checkpoint_every=s(self.checkpoint_every, 50),
        )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
