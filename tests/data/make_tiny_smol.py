"""Regenerate tests/data/tiny_lego.smol and its stored render (run from the repository root):

    .venv/bin/python tests/data/make_tiny_smol.py

A 60-step Smol-GS run on the lego capture at 32 px; the test decodes the stored file and checks
its render against the stored PNG, so a change that silently alters decoding is caught."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from PIL import Image

from engine.codec.smol.codec import encode_scene
from engine.codec.smol.train import SmolConfig, SmolTrainer
from engine.io.captures import load_capture
from engine.render import render

HERE = Path(__file__).resolve().parent
CAPTURE = HERE.parents[1].parent / "shared" / "data" / "captures" / "lego_nerf_synthetic"


def main() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cap = load_capture(CAPTURE, max_side=32)
    trainer = SmolTrainer(cap, SmolConfig(iterations=60, init_points=300, refine_every=10), torch.device("cpu"))
    for _ in range(60):
        trainer.step()
    data = encode_scene(trainer.smol_scene(), trainer.context)
    (HERE / "tiny_lego.smol").write_bytes(data)
    from engine.codec import decode_bytes

    scene = decode_bytes(data)
    cam = cap.frames[cap.test_indices[0]].camera.scaled(64, 64)
    cam.save(HERE / "tiny_lego_camera.json")
    img = render(scene, cam, background=(1.0, 1.0, 1.0), with_depth=False).image_uint8()
    Image.fromarray(img).save(HERE / "tiny_lego_render.png")
    print(len(data), "bytes;", scene.count, "splats")


if __name__ == "__main__":
    main()
