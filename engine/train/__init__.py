"""Training 3DGS scenes from captures (CPU: the torch renderer; CUDA: gsplat)."""

from engine.train.config import TrainConfig
from engine.train.trainer import TrainResult, Trainer, train_job

__all__ = ["TrainConfig", "Trainer", "TrainResult", "train_job"]
