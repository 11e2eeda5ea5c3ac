"""Distilled-3DGS (arXiv 2508.14037): several teachers guide a pruned student.

- ``config``       DistillConfig and the paper's schedule as fractions of the run
- ``teachers``     the noise-augmented and dropout teachers (Trainer subclasses)
- ``teacher_mean`` the teachers' mean image per training view or pseudo-view, cached as uint8
- ``pseudo_views`` cameras between the training ones, where the teachers also supervise
- ``importance``   the §3.4 importance score, sampling, CDF and budget pruning
- ``structure``    the structural similarity loss (separable, point-chunked) and its dense twin
- ``student``      the student (Trainer subclass): distillation, pruning, structure
- ``job``          distill_job: the whole run, resumable; metrics for every model
"""

from engine.distill.config import TEACHER_KINDS, DistillConfig
from engine.distill.job import DistillResult, distill_job

__all__ = ["TEACHER_KINDS", "DistillConfig", "DistillResult", "distill_job"]
