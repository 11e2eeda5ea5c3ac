"""Many inputs × one job as Ray tasks: ``splatlab batch`` and the studio's File > Batch….

    from engine import jobs
    from engine.batch import BatchSettings, batch_job
    result = jobs.run(batch_job("compress", ["scenes/*.ply"], "out", {"levels": [2, 5]}))
    result["counts"], result["items"][0]["figures"]

Modules: items (inputs: files, globs, folders, @lists; output names; hashes), jobs (each job's
options, outputs and per-item function: the engine calls its single command makes), tasks (what
a Ray task runs), cluster (a local Ray instance or a cluster), manifest (``batch.json``, resume),
runner (the batch job), report (terminal table, ``report.html``). Ray is imported only when a
batch runs (engine.batch.cluster.import_ray).
"""

from engine.batch.cluster import ClusterSettings, RaySession
from engine.batch.jobs import JOBS, JobSpec, job_options
from engine.batch.manifest import Manifest
from engine.batch.runner import BatchSettings, batch_job

__all__ = ["BatchSettings", "ClusterSettings", "JOBS", "JobSpec", "Manifest", "RaySession", "batch_job", "job_options"]
