"""The batch itself: plan the items, skip those done before, run the rest as Ray tasks, keep the
manifest and write the report. A job (engine.jobs): it yields Progress over items and returns the
summary; the CLI shows it as a progress bar, the studio runs it in a worker thread."""

from __future__ import annotations

import contextlib
import glob
import os
import time
from dataclasses import dataclass, field

from engine.batch import manifest as mf
from engine.batch.cluster import ClusterSettings, RaySession
from engine.batch.items import find_inputs, sha256_of, unique_names
from engine.batch.jobs import JOBS, JobSpec, job_options
from engine.batch.tasks import one_line, run_item
from engine.errors import InputError
from engine.jobs import CancelToken, Job, Progress

LARGE_ITEM = 2 << 30  # items whose estimate is at least this declare their memory to Ray
POLL_S = 0.5  # a Progress at least this often while tasks run (the studio checks cancel on each)


@dataclass(frozen=True)
class BatchSettings:
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    cpus_per_task: int = 1  # Ray CPUs per item; torch uses as many threads
    gpus_per_task: float | None = None  # None: 1 for jobs that train, where the cluster has GPUs
    memory_per_task_gb: float | None = None  # None: the job's estimate, declared for large items only
    max_retries: int = 2  # more attempts when a worker dies (killed, out of memory)
    force: bool = False  # run items done by an earlier run too


def plan(spec: JobSpec, inputs: list[str], outdir: str, options: dict, cancel: CancelToken | None = None) -> Job:
    """The items of a batch as manifest records (bad inputs already marked), yielding Progress
    while inputs are hashed; returns the records."""
    found = find_inputs(inputs, spec.kind, exclude=outdir)
    if not found:
        raise InputError(None, f"batch {spec.name}: no inputs")
    names = unique_names([f.path for f in found])
    records = []
    for i, f in enumerate(found):
        if cancel is not None:
            cancel.check()
        problem, sha = f.problem, None
        if problem is None:
            try:
                sha = sha256_of(f.path)
            except InputError as e:
                problem = e.problem
        for rel, params in spec.outputs(names[f.path], options):
            rec = mf.record(spec.name, f.path, sha, params, rel)
            if problem is not None:
                rec.update(status="bad_input", error=one_line(f"{f.path}: {problem}"), finished=mf.now())
            records.append(rec)
        yield Progress(i + 1, len(found), f"hashed {i + 1}/{len(found)} inputs")
    return records


def batch_job(job: str | JobSpec, inputs: list[str], outdir: str, options: dict | None = None,
              settings: BatchSettings = BatchSettings(), cancel: CancelToken | None = None) -> Job:  # fmt: skip
    """Run ``job`` over ``inputs`` into ``outdir``; returns the summary (:func:`summary`).

    ``job``: a name of engine.batch.jobs.JOBS (or a JobSpec); ``options``: the job's options
    (checked before anything runs). Items done by an earlier run with the same input hash and
    params are skipped unless ``settings.force``."""
    from engine.io.atomic import make_output_folder

    spec = JOBS[job] if isinstance(job, str) else job
    options = job_options(spec, options)
    outdir = os.path.abspath(outdir)
    make_output_folder(outdir)
    t0 = time.perf_counter()
    with mf.locked(outdir):
        manifest = mf.Manifest.load(outdir)
        records = yield from plan(spec, inputs, outdir, options, cancel)
        skipped, todo = set(), []
        for rec in records:
            if not settings.force and manifest.is_done(rec):
                skipped.add(rec["output"])
            else:
                manifest.records[rec["output"]] = rec
                if rec["status"] == "pending":
                    todo.append(rec)
        manifest.save()
        rows = [manifest.records[r["output"]] for r in records]
        ray_info = None
        try:
            if todo:
                ray_info = yield from _run(spec, todo, outdir, manifest, settings, len(records) - len(todo), cancel)
        finally:
            _remove_leftovers(outdir, todo)
            manifest.save()
        result = summary(spec.name, outdir, rows, skipped, time.perf_counter() - t0, ray_info)
        from engine.batch.report import write_report

        write_report(os.path.join(outdir, "report.html"), result)
    return result


def _run(spec: JobSpec, todo: list[dict], outdir: str, manifest: mf.Manifest, settings: BatchSettings, finished: int,
         cancel: CancelToken | None) -> Job:  # fmt: skip
    """Submit ``todo`` as Ray tasks and record each outcome as it arrives; returns where it ran."""
    total = finished + len(todo)
    yield Progress(finished, total, "starting Ray")
    with RaySession(settings.cluster) as session:
        import ray

        info = session.describe()
        gpus = settings.gpus_per_task
        if gpus is None:
            gpus = 1 if spec.uses_gpu and info["gpus"] > 0 and todo[0]["params"].get("device") != "cpu" else 0
        cpus = max(1, int(settings.cpus_per_task))
        remote = ray.remote(run_item)
        largest = session.largest_node_memory()
        pending: dict = {}
        for rec in todo:
            src, out = rec["input"], os.path.join(outdir, rec["output"])
            opts = {"num_cpus": cpus, "num_gpus": gpus, "max_retries": max(0, settings.max_retries), "retry_exceptions": False,
                    "name": f"batch {spec.name} {rec['output']}"}  # fmt: skip
            memory = _memory(spec, src, settings)
            if memory:
                opts["memory"] = min(memory, largest) if largest else memory
            pending[remote.options(**opts).remote(spec.run, src, out, rec["params"], cpus)] = rec
        slots = max(1, int(info["cpus"] // cpus))
        counts = {"done": 0, "failed": 0, "bad_input": 0}
        try:
            while pending:
                if cancel is not None:
                    cancel.check()
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_S)
                now_done = []
                for ref in ready:
                    rec = pending.pop(ref)
                    _record(rec, _outcome(ray, ref), outdir)
                    counts[rec["status"]] += 1
                    finished += 1
                    now_done.append(dict(rec))
                    manifest.save()
                running = min(len(pending), slots)
                msg = (f"{spec.name}: {counts['done']} done, {counts['failed'] + counts['bad_input']} failed, "
                       f"{running} running")  # fmt: skip
                # preview: the records that finished since the last Progress (the studio adds their rows)
                yield Progress(finished, total, msg, {**counts, "running": running}, now_done)
        finally:
            for ref in pending:  # cancelled or interrupted: stop what still runs; those items stay pending
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)
    return info


def _memory(spec: JobSpec, src: str, settings: BatchSettings) -> int:
    if settings.memory_per_task_gb is not None:
        return int(settings.memory_per_task_gb * (1 << 30))
    estimate = spec.memory(src)
    return estimate if estimate >= LARGE_ITEM else 0


def _outcome(ray, ref) -> dict:
    """The task's result dict, or a failed one when the task never returned (its worker died on
    every attempt, it ran out of memory, it was cancelled)."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayError as e:
        what = {"WorkerCrashedError": "its worker died on every attempt", "OutOfMemoryError": "it ran out of memory",
                "TaskCancelledError": "it was cancelled", "NodeDiedError": "its node died"}.get(type(e).__name__)  # fmt: skip
        error = one_line(f"{what}: {e}" if what else f"{type(e).__name__}: {e}", 300)
        return {"status": "failed", "figures": {}, "error": error, "seconds": None, "node": None}


def _record(rec: dict, result: dict, outdir: str) -> None:
    status = result["status"]
    if status == "done" and not os.path.exists(os.path.join(outdir, rec["output"])):
        status, result = "failed", result | {"error": f"{rec['output']}: the job finished without writing it"}
    rec.update(status=status, figures=result.get("figures") or {}, error=result.get("error"),
               seconds=result.get("seconds"), node=result.get("node"), node_id=result.get("node_id"),
               finished=mf.now())  # fmt: skip


def _remove_leftovers(outdir: str, records: list[dict]) -> None:
    """Temporary files that a killed worker left beside its outputs (engine.io.atomic's
    ``.NAME.*.part``)."""
    for rec in records:
        out = os.path.join(outdir, rec["output"])
        pattern = os.path.join(glob.escape(os.path.dirname(out)), "." + glob.escape(os.path.basename(out)) + ".*.part")
        for leftover in glob.glob(pattern):
            with contextlib.suppress(OSError):
                os.unlink(leftover)


def summary(job: str, outdir: str, rows: list[dict], skipped: set[str], seconds: float, ray_info: dict | None) -> dict:
    """What ``--json`` prints and the report shows: counts, time, where it ran, and this run's rows
    (each with ``skipped``: done by an earlier run)."""
    items = [r | {"skipped": r["output"] in skipped} for r in rows]
    return {"schema": "splatlab.batch-summary/1", "job": job, "output": outdir,
            "manifest": os.path.join(outdir, mf.FILE), "report": os.path.join(outdir, "report.html"),
            "counts": mf.counts(rows, len(skipped)), "seconds": seconds, "ray": ray_info, "items": items}  # fmt: skip
