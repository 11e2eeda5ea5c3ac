"""The feed-forward codec's corpus: which scenes its networks learn from and which they are
measured on (never both).

A corpus manifest (``resources/codecs/corpus_v1.json``, schema ``splatlab.codec-corpus/1``)
lists scenes, each in a split (``train`` or ``eval``) and made one of two ways:

- ``"file"``: a scene file under the shared data folder (``../shared/data``), e.g. a .splat;
- ``"train"``: a scene made by ``splatlab train`` from a shared capture, with its options
  (``max_side``, ``iterations``, ``seed``, ``sh_degree``, ``strategy``, ``cap_max``), so that
  seeds, budgets, image sizes and SH degrees vary. It is built on first use into a build folder
  (``out/codec_corpus/NAME``) by the same job as the command the manifest prints.

:func:`corpus_job` builds what is missing and returns the scenes' paths with a record per scene
(name, split, the command that makes it, seed, sha256); ``splatlab codec-train`` writes those
records into the weights' manifest, so the shipped weights say exactly what they saw.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from engine.errors import InputError
from engine.io.atomic import sha256_file
from engine.jobs import CancelToken, Job, Progress

SCHEMA = "splatlab.codec-corpus/1"
SPLITS = ("train", "eval")
TRAIN_OPTIONS = ("max_side", "iterations", "seed", "sh_degree", "strategy", "cap_max")


@dataclass(frozen=True)
class CorpusScene:
    name: str
    split: str  # train | eval
    file: str | None = None  # a scene file, relative to the data folder
    train: dict = field(default_factory=dict)  # splatlab train options, "capture" relative to the data folder

    def command(self, data_dir: str, build_dir: str) -> str:
        """The shell command that makes this scene (for a file: where it is read from)."""
        if self.file:
            return f"(shared file) {os.path.join(data_dir, self.file)}"
        t = self.train
        words = ["splatlab", "train", os.path.join(data_dir, t["capture"]), "-o", os.path.join(build_dir, self.name)]
        for key in TRAIN_OPTIONS:
            if key in t:
                words += ["--" + key.replace("_", "-"), str(t[key])]
        return " ".join(words)

    def path(self, data_dir: str, build_dir: str) -> str:
        if self.file:
            return os.path.join(data_dir, self.file)
        return os.path.join(build_dir, self.name, "point_cloud.ply")


def load_manifest(path: str) -> list[CorpusScene]:
    """The scenes of a corpus manifest; InputError naming the file and the problem."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except OSError as e:
        raise InputError(path, f"cannot read the corpus manifest ({e.strerror or e})") from None
    except json.JSONDecodeError as e:
        raise InputError(path, f"the corpus manifest is not JSON ({e})") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise InputError(path, f"not a codec corpus manifest (expected schema {SCHEMA!r})")
    scenes, names = [], set()
    for i, e in enumerate(doc.get("scenes") or []):
        name = e.get("name") if isinstance(e, dict) else None
        if not name or name in names:
            raise InputError(path, f"scene {i}: a unique 'name' is required")
        if e.get("split") not in SPLITS:
            raise InputError(path, f"scene {name!r}: split must be one of {', '.join(SPLITS)}")
        if bool(e.get("file")) == bool(e.get("train")):
            raise InputError(path, f"scene {name!r}: give exactly one of 'file' or 'train'")
        if e.get("train") and "capture" not in e["train"]:
            raise InputError(path, f"scene {name!r}: 'train' needs a 'capture'")
        unknown = set(e.get("train") or {}) - {"capture", *TRAIN_OPTIONS}
        if unknown:
            raise InputError(path, f"scene {name!r}: unknown train options {', '.join(sorted(unknown))}")
        names.add(name)
        scenes.append(CorpusScene(name, e["split"], e.get("file"), dict(e.get("train") or {})))
    if not any(s.split == "train" for s in scenes):
        raise InputError(path, "the corpus has no training scenes")
    return scenes


def corpus_job(manifest: str, data_dir: str, build_dir: str, splits=("train",),
               cancel: CancelToken | None = None) -> Job:  # fmt: skip
    """Make sure every scene of ``splits`` exists (training the missing ``train`` ones, each a
    resumable ``splatlab train`` job); returns {"paths": {name: path}, "records": [...]} with a
    record for every scene of the manifest (the other splits too, when their file exists, so
    the weights' manifest shows what was kept out)."""
    from engine.train import TrainConfig, train_job

    scenes = load_manifest(manifest)
    wanted = [s for s in scenes if s.split in splits]
    missing = [s for s in wanted if not os.path.exists(s.path(data_dir, build_dir))]
    for s in missing:
        if s.file:
            raise InputError(s.path(data_dir, build_dir), f"corpus scene {s.name!r} is missing (is --data the shared data folder?)")
        capture = os.path.join(data_dir, s.train["capture"])
        if not os.path.isdir(capture):
            raise InputError(capture, f"the capture of corpus scene {s.name!r} is missing (is --data the shared data folder?)")
    for k, s in enumerate(missing):
        if cancel is not None:
            cancel.check()
        t = s.train
        cfg = TrainConfig.from_options(iterations=t.get("iterations"), max_side=t.get("max_side"), device="cpu",
                                       seed=t.get("seed", 0), strategy=t.get("strategy", "default"),
                                       cap_max=t.get("cap_max"), sh_degree=t.get("sh_degree", 3))  # fmt: skip
        out = os.path.join(build_dir, s.name)
        sub = train_job(os.path.join(data_dir, t["capture"]), out, cfg, resume=os.path.isdir(out + ".partial"),
                        cancel=cancel)  # fmt: skip
        for p in sub:
            yield Progress(k * 1000 + round(1000 * p.step / max(p.total, 1)), 1000 * len(missing),
                           f"corpus {s.name} ({k + 1}/{len(missing)}): {p.message}", p.metrics)  # fmt: skip
    paths, records = {}, []
    for s in scenes:
        path = s.path(data_dir, build_dir)
        exists = os.path.exists(path)
        if s.split in splits:
            paths[s.name] = path
        records.append({"name": s.name, "split": s.split, "command": s.command(data_dir, build_dir),
                        "seed": s.train.get("seed", 0) if s.train else None,
                        "sha256": sha256_file(path) if exists else None})  # fmt: skip
    return {"paths": paths, "records": records}
