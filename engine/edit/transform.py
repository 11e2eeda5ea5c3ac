"""Rigid transforms, uniform scale and mirroring of splats, with exact undo.

A transform moves positions, turns the Gaussians (quaternions) and rotates their view-dependent
colour: SH bands 1-3 through real Wigner-D matrices built for the project's SH basis
(engine.render.sh, the INRIA / gsplat one: its signs and order) by solving each band's linear map
on sample directions (:func:`sh_rotation`), so they match the renderer exactly. Mirroring across a
coordinate plane negates that coordinate, reflects the quaternion (two imaginary parts change
sign) and flips the sign of the SH coefficients that are odd under the reflection.

Conventions:

- ``rotation_from_euler(rx, ry, rz)`` (degrees) is R = Rz(rz) @ Ry(ry) @ Rx(rx): about the fixed
  x axis first, then y, then z. This is PlayCanvas' ``Quat.setFromEulerAngles``, which
  ``splat-transform -r x,y,z`` uses, so ``splatlab edit --rotate`` turns a scene as it does.
- ``set_up(session, "+z")`` says "this scene's up is +z" and turns it by a quarter or half turn so
  that its up becomes ``target`` (default -y, the COLMAP / INRIA / SuperSplat convention that
  engine.framing and the home view assume).

Undo is exact: an edit keeps the transform and the splats it moved (engine.edit.history) and
undoes by applying the inverse transform; where float32 rounding keeps the inverse from giving the
original bits back, the difference is kept as a small compressed residual. Mirrors through the
origin are exact negations and need none (about a plane elsewhere they are rounded like the
others). All arithmetic is elementwise float64 (numpy), never BLAS, so a redo reproduces the
first application bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from engine.edit.history import IndexSet, apply_residual, encode_residual
from engine.framing import parse_up
from engine.render.sh import sh_basis

CHUNK = 1 << 14  # rows per step: bounds the float64 temporaries (SH degree 3: ~6 MB an array)


# ---------------------------------------------------------------------- rotations
def rotation_about(axis: str | np.ndarray, degrees: float) -> np.ndarray:
    """[3, 3] rotation by ``degrees`` (right-handed) about ``axis`` ("x", "y", "z" or a vector)."""
    a = np.eye(3)["xyz".index(axis)] if isinstance(axis, str) else np.asarray(axis, np.float64)
    a = a / np.linalg.norm(a)
    t = math.radians(degrees)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + math.sin(t) * k + (1 - math.cos(t)) * (k @ k)


def rotation_from_euler(rx: float, ry: float, rz: float) -> np.ndarray:
    """[3, 3] R = Rz @ Ry @ Rx from angles in degrees (splat-transform's ``-r``; module docstring)."""
    return rotation_about("z", rz) @ rotation_about("y", ry) @ rotation_about("x", rx)


def matrix_to_quat(r: np.ndarray) -> np.ndarray:
    """Unit quaternion [4] (w, x, y, z, w >= 0) of a rotation matrix [3, 3]."""
    r = np.asarray(r, np.float64)
    tr = np.trace(r)
    if tr > 0:
        s = 2.0 * math.sqrt(1.0 + tr)
        q = [0.25 * s, (r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s]
    else:
        i = int(np.argmax(np.diag(r)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * math.sqrt(max(1.0 + r[i, i] - r[j, j] - r[k, k], 0.0))
        q = [0.0, 0.0, 0.0, 0.0]
        q[0] = (r[k, j] - r[j, k]) / s
        q[1 + i] = 0.25 * s
        q[1 + j] = (r[j, i] + r[i, j]) / s
        q[1 + k] = (r[k, i] + r[i, k]) / s
    q = np.array(q)
    q /= np.linalg.norm(q)
    return -q if q[0] < 0 else q


def _check_rotation(r: np.ndarray) -> np.ndarray:
    r = np.asarray(r, np.float64).reshape(3, 3)
    if not np.allclose(r @ r.T, np.eye(3), atol=1e-9) or np.linalg.det(r) < 0:
        raise ValueError("not a rotation matrix (orthonormal with determinant +1)")
    return r


def _fibonacci_sphere(n: int = 64) -> np.ndarray:
    i = np.arange(n) + 0.5
    z = 1 - 2 * i / n
    phi = math.pi * (3 - math.sqrt(5)) * i
    rho = np.sqrt(1 - z * z)
    return np.stack([rho * np.cos(phi), rho * np.sin(phi), z], 1)  # [n, 3]


def sh_band_map(m: np.ndarray, degree: int) -> list[np.ndarray]:
    """For an orthogonal 3x3 ``m`` (a rotation or a reflection), the matrices D_l [2l+1, 2l+1],
    l = 1..degree, with  sum_j D_l[i, j] c_j  the coefficients of the function d -> f(m^T d)
    when c are those of f, in the basis of engine.render.sh (solved on 64 directions; exact to
    float64 round-off, since each band is closed under orthogonal maps)."""
    if degree == 0:
        return []
    dirs = _fibonacci_sphere()
    a = sh_basis(degree, torch.from_numpy(dirs)).numpy()  # [64, K]
    b = sh_basis(degree, torch.from_numpy(dirs @ np.asarray(m, np.float64))).numpy()  # Y(m^T d)
    out = []
    for band in range(1, degree + 1):
        s = slice(band * band, (band + 1) ** 2)
        out.append(np.linalg.lstsq(a[:, s], b[:, s], rcond=None)[0])
    return out


def sh_rotation(r: np.ndarray, degree: int) -> list[np.ndarray]:
    """Real Wigner-D matrices D_1..D_degree of the rotation ``r`` [3, 3] in the project's SH basis:
    the SH coefficients of a splat turned by ``r`` are D_l @ c_l per band."""
    return sh_band_map(_check_rotation(r), degree)


def sh_mirror_signs(axis: int, degree: int) -> np.ndarray:
    """[K] +1 / -1: the sign of each SH coefficient (DC first) under the reflection that negates
    coordinate ``axis``. Exactly +-1, so mirroring twice restores the coefficients bit for bit."""
    m = np.diag([-1.0 if i == axis else 1.0 for i in range(3)])
    signs = [1.0]
    for d in sh_band_map(m, degree):
        if not np.allclose(d, np.diag(np.diag(d)), atol=1e-9):
            raise AssertionError("an axis reflection must map each SH basis function to +- itself")
        signs += [1.0 if v > 0 else -1.0 for v in np.diag(d)]
    return np.array(signs)


def up_rotation(up: str | np.ndarray, target: str | np.ndarray = "-y") -> np.ndarray:
    """The quarter- or half-turn rotation [3, 3] (integer entries) taking axis ``up`` to ``target``
    ("+x", "-y", ...). A half turn (opposite axes) is about z, or x when the axes are along z."""
    a = parse_up(up) if isinstance(up, str) else np.asarray(up, np.float64)
    b = parse_up(target) if isinstance(target, str) else np.asarray(target, np.float64)
    if np.allclose(a, b):
        return np.eye(3)
    if np.allclose(a, -b):
        pivot = np.array([0.0, 0.0, 1.0]) if abs(a[2]) < 0.5 else np.array([1.0, 0.0, 0.0])
        return np.rint(rotation_about(pivot, 180.0))
    return np.rint(rotation_about(np.cross(a, b), 90.0))


# ---------------------------------------------------------------------- transforms
def _quat_left_multiply(r: np.ndarray, q: np.ndarray) -> np.ndarray:
    """r (x) q for a constant quaternion r [4] and rows q [k, 4] (wxyz), float64 elementwise."""
    w, x, y, z = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    a, b, c, d = (float(v) for v in r)
    return np.stack([a * w - b * x - c * y - d * z,
                     a * x + b * w + c * z - d * y,
                     a * y - b * z + c * w + d * x,
                     a * z + b * y - c * x + d * w], 1)  # fmt: skip


def _linear_rows(m: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rows of v [k, n, ...] mapped by m [n, n] along axis 1, as elementwise float64 sums."""
    n = m.shape[0]
    cols = np.ascontiguousarray(np.moveaxis(v, 1, 0)).reshape(n, -1)  # [n, k * rest] contiguous
    out = np.empty_like(cols)
    tmp = np.empty(cols.shape[1], np.float64)
    for i in range(n):
        np.multiply(cols[0], m[i, 0], out=out[i])
        for j in range(1, n):
            np.multiply(cols[j], m[i, j], out=tmp)
            out[i] += tmp
    return np.moveaxis(out.reshape((n, v.shape[0]) + v.shape[2:]), 0, 1)


@dataclass(frozen=True, eq=False)
class Affine:
    """p -> scale * rotation @ p + translation; Gaussians turn with ``rotation`` and grow with
    ``scale`` (> 0)."""

    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))  # [3, 3]
    scale: float = 1.0
    translation: np.ndarray = field(default_factory=lambda: np.zeros(3))  # [3]
    _cache: dict = field(default_factory=dict, repr=False)  # quaternion and Wigner-D, computed once
    exact = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "rotation", _check_rotation(self.rotation))
        object.__setattr__(self, "translation", np.asarray(self.translation, np.float64).reshape(3))
        if not (math.isfinite(self.scale) and self.scale > 0) or not np.isfinite(self.translation).all():
            raise ValueError("scale must be a finite number > 0 and the translation finite")

    @property
    def matrix(self) -> np.ndarray:  # [4, 4]
        m = np.eye(4)
        m[:3, :3] = self.scale * self.rotation
        m[:3, 3] = self.translation
        return m

    def inverse(self) -> "Affine":
        rt = self.rotation.T
        return Affine(rt, 1.0 / self.scale, -(rt @ self.translation) / self.scale)

    def touched(self, sh_degree: int) -> tuple[str, ...]:
        turns = not np.array_equal(self.rotation, np.eye(3))
        names = ["means"]
        if turns:
            names.append("quats")
        if self.scale != 1.0:
            names.append("log_scales")
        if turns and sh_degree > 0:
            names.append("sh")
        return tuple(names)

    def map(self, name: str, v: np.ndarray) -> np.ndarray:
        """New float32 values of attribute ``name`` for rows ``v`` (float32)."""
        x = v.astype(np.float64)
        if name == "means":
            out = self.scale * _linear_rows(self.rotation, x) + self.translation
        elif name == "quats":
            if "quat" not in self._cache:
                self._cache["quat"] = matrix_to_quat(self.rotation)
            out = _quat_left_multiply(self._cache["quat"], x)
        elif name == "log_scales":
            out = x + math.log(self.scale)
        elif name == "sh":  # [k, K-1, 3]: the bands above DC
            out = np.empty_like(x)
            degree = _degree_of_rest(x.shape[1])
            if ("sh", degree) not in self._cache:
                self._cache[("sh", degree)] = sh_rotation(self.rotation, degree)
            for band, d in enumerate(self._cache[("sh", degree)], start=1):
                s = slice(band * band - 1, (band + 1) ** 2 - 1)
                out[:, s] = _linear_rows(d, x[:, s])
        else:
            raise KeyError(name)
        return out.astype(np.float32)


@dataclass(frozen=True)
class Mirror:
    """Reflection across the plane normal to ``axis`` (0, 1, 2) at coordinate ``plane`` along it
    (0: through the origin, an exact negation; elsewhere p -> 2 plane - p, rounded)."""

    axis: int
    plane: float = 0.0

    @property
    def exact(self) -> bool:
        return self.plane == 0.0

    def inverse(self) -> "Mirror":
        return self

    def touched(self, sh_degree: int) -> tuple[str, ...]:
        return ("means", "quats", "sh") if sh_degree > 0 else ("means", "quats")

    def map(self, name: str, v: np.ndarray) -> np.ndarray:
        out = v.copy()
        if name == "means":
            if self.plane == 0.0:
                out[:, self.axis] = -out[:, self.axis]
            else:
                out[:, self.axis] = (2.0 * self.plane - v[:, self.axis].astype(np.float64)).astype(np.float32)
        elif name == "quats":  # M R M for M = diag with -1 at axis: the other two imaginary parts flip
            for i in range(3):
                if i != self.axis:
                    out[:, 1 + i] = -out[:, 1 + i]
        elif name == "sh":
            signs = sh_mirror_signs(self.axis, _degree_of_rest(v.shape[1]))[1:]
            out[:, signs < 0] = -out[:, signs < 0]
        else:
            raise KeyError(name)
        return out


def _degree_of_rest(k_rest: int) -> int:
    return int(round(math.sqrt(k_rest + 1))) - 1


# ---------------------------------------------------------------------- rows of a scene
def _read(scene, name: str, rows) -> np.ndarray:
    t = scene.sh[rows, 1:] if name == "sh" else getattr(scene, name)[rows]
    return t.detach().cpu().numpy().astype(np.float32, copy=True)


def _write(scene, name: str, rows, values: np.ndarray) -> None:
    with torch.no_grad():
        if name == "sh":
            scene.sh[rows, 1:] = torch.from_numpy(values).to(scene.sh)
        else:
            t = getattr(scene, name)
            t[rows] = torch.from_numpy(values).to(t)


def _chunks(splats: IndexSet):
    """Row selectors (slices for a whole scene, index tensors otherwise) of CHUNK rows."""
    if splats.is_all():
        for s in range(0, splats.n, CHUNK):
            yield slice(s, min(s + CHUNK, splats.n))
        return
    idx = torch.from_numpy(splats.indices())
    for s in range(0, idx.shape[0], CHUNK):
        yield idx[s : s + CHUNK]


@dataclass
class TransformEdit:
    """History record of a transform: the transform, the splats it moved and the residuals
    (per attribute and chunk) that make the inverse exact (engine.edit.history)."""

    label: str
    transform: Affine | Mirror
    splats: IndexSet
    residuals: dict = field(default_factory=dict)  # (name, chunk) -> bytes | None

    def apply(self, session) -> None:
        scene = session.scene
        for rows in _chunks(self.splats):
            for name in self.transform.touched(scene.sh_degree):
                _write(scene, name, rows, self.transform.map(name, _read(scene, name, rows)))

    def revert(self, session) -> None:
        scene, inverse = session.scene, self.transform.inverse()
        for ci, rows in enumerate(_chunks(self.splats)):
            for name in self.transform.touched(scene.sh_degree):
                recovered = inverse.map(name, _read(scene, name, rows))
                _write(scene, name, rows, apply_residual(recovered, self.residuals.get((name, ci))))

    @property
    def nbytes(self) -> int:
        return self.splats.nbytes + sum(len(r) for r in self.residuals.values() if r is not None) + 256


def _which(session, which) -> IndexSet:
    if isinstance(which, str):
        if which == "all":
            return IndexSet.all(session.total)
        if which == "selection":
            return IndexSet.from_mask(session.selected)
        raise ValueError(f"which={which!r}: give 'all', 'selection' or a bool mask")
    return IndexSet.from_mask(np.asarray(which, dtype=bool))


def apply_transform(session, transform: Affine | Mirror, which="all", label: str = "transform") -> TransformEdit | None:
    """Apply ``transform`` to ``which`` splats ("all": every splat, hidden and deleted ones too,
    so undoing a delete later brings a splat back where the scene now is; "selection"; or a bool
    mask [N]) as one undoable edit. Returns the edit, None when no splat is affected."""
    splats = _which(session, which)
    if splats.count == 0:
        return None
    scene = session.scene
    edit = TransformEdit(label, transform, splats)
    residual = session.keep_history and not transform.exact
    inverse = transform.inverse()
    for ci, rows in enumerate(_chunks(splats)):
        for name in transform.touched(scene.sh_degree):
            old = _read(scene, name, rows)
            new = transform.map(name, old)
            if residual:
                edit.residuals[(name, ci)] = encode_residual(old, inverse.map(name, new))
            _write(scene, name, rows, new)
    session.record(edit)
    return edit


# ---------------------------------------------------------------------- the operations
def translate(session, offset, which="all") -> TransformEdit | None:
    offset = np.asarray(offset, np.float64).reshape(3)
    return apply_transform(session, Affine(translation=offset), which, f"translate ({', '.join(f'{v:g}' for v in offset)})")


def rotate(session, rotation, pivot=None, which="all") -> TransformEdit | None:
    """Turn by ``rotation`` ([3, 3] matrix, or (rx, ry, rz) degrees, :func:`rotation_from_euler`)
    about ``pivot`` [3] (default the origin)."""
    r = np.asarray(rotation, np.float64)
    r = rotation_from_euler(*r) if r.shape == (3,) else r
    p = np.zeros(3) if pivot is None else np.asarray(pivot, np.float64)
    return apply_transform(session, Affine(r, 1.0, p - _check_rotation(r) @ p), which, "rotate")


def scale(session, factor: float, pivot=None, which="all") -> TransformEdit | None:
    """Uniform scale by ``factor`` > 0 about ``pivot`` (default the origin): positions and sizes."""
    p = np.zeros(3) if pivot is None else np.asarray(pivot, np.float64)
    return apply_transform(session, Affine(np.eye(3), float(factor), p - float(factor) * p), which, f"scale {factor:g}")


def mirror(session, axis: str | int, which="all", plane: float = 0.0) -> TransformEdit | None:
    """Mirror across the plane normal to ``axis`` ("x", "y", "z") through the origin, or at
    coordinate ``plane`` along that axis (the studio mirrors about the moved splats' centre)."""
    a = "xyz".index(axis.lower()) if isinstance(axis, str) else int(axis)
    plane = float(plane)
    if not math.isfinite(plane):
        raise ValueError(f"the mirror plane must be finite, not {plane!r}")
    where = f" at {'xyz'[a]} = {plane:g}" if plane else ""
    return apply_transform(session, Mirror(a, plane), which, f"mirror {'xyz'[a]}{where}")


def set_up(session, up: str | np.ndarray, target: str | np.ndarray = "-y", which="all") -> TransformEdit | None:
    """Turn the scene whose up is ``up`` so that it becomes ``target`` (module docstring)."""
    r = up_rotation(up, target)
    if np.array_equal(r, np.eye(3)):
        return None
    return apply_transform(session, Affine(r), which, f"set up {up if isinstance(up, str) else ''}".strip())
