r"""Augmentation by the symmetries of the problem: the 8 rotations and reflections of a square grid.

Maps are ``[..., y, x]``. Element ``k`` (0…7) of the dihedral group D4 is ``k % 4`` quarter turns
(``rot90`` over the last two axes, from x towards y) preceded, for ``k >= 4``, by a flip of the x axis.
Scalars (κ, the mask, the noise σ) move with their pixels. Shear is spin 2: with
:math:`\gamma = |\gamma| e^{2i\varphi}`, a reflection sends :math:`\varphi \to -\varphi` (about x) or
:math:`\pi - \varphi` (about y), so :math:`\gamma \to \gamma^*`: **a flip negates** :math:`\gamma_2`;
a quarter turn sends :math:`\varphi \to \varphi + \pi/2`, so :math:`\gamma \to -\gamma`: **a 90°
rotation negates both** :math:`\gamma_1` **and** :math:`\gamma_2`; a half turn leaves them unchanged.
Moving the pixels of the shear maps alone (as the published MIU2Net scripts do) gives shear that no
convergence map produces; with the signs above, Kaiser-Squires commutes with every element
(``tests/nn/test_augment.py``): the transformed shear inverts to the transformed κ.

The same holds for the B mode up to its parity: a reflection negates :math:`\kappa_B`.

On a periodic grid of even size the commutation is exact for every mode but the Nyquist row and column,
where the discrete KS kernel :math:`\hat D(\ell)` is sampled at :math:`\ell_i = -\pi/\Delta` only and so
is not itself symmetric; on odd grids, or for maps without Nyquist power, it is exact to rounding. The
zero-padded KS (an even grid twice the size, whose padded map has Nyquist power from its edges) commutes
only to a few per cent of the map's peak for the same reason, against order-unity errors for the naive flip.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Pairs of keys holding the two components of a spin-2 field, in data-set samples.
SPIN2_PAIRS: tuple[tuple[str, str], ...] = (
    ("gamma1", "gamma2"),
    ("g1", "g2"),
    ("g1_noiseless", "g2_noiseless"),
    ("e1", "e2"),
)

#: Number of elements of the group.
N_ELEMENTS = 8


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def _check(k: int) -> tuple[int, bool]:
    k = int(k)
    if not 0 <= k < N_ELEMENTS:
        raise ValueError(f"symmetry element must be in 0..7; got {k}")
    return k % 4, k >= 4


def transform_scalar(field: Any, k: int) -> Any:
    """Move the pixels of a scalar map (or maps ``[..., y, x]``) by element ``k``; NumPy or torch."""
    turns, flip = _check(k)
    if _is_torch(field):
        import torch

        if flip:
            field = torch.flip(field, dims=(-1,))
        return torch.rot90(field, turns, dims=(-2, -1)) if turns else field
    field = np.asarray(field)
    if flip:
        field = field[..., ::-1]
    return np.ascontiguousarray(np.rot90(field, turns, axes=(-2, -1)))


def shear_signs(k: int) -> tuple[int, int]:
    """Signs multiplying (γ1, γ2) under element ``k`` (module docstring)."""
    turns, flip = _check(k)
    s = -1 if turns % 2 else 1
    return s, (-s if flip else s)


def transform_shear(gamma1: Any, gamma2: Any, k: int) -> tuple[Any, Any]:
    """Transform a spin-2 field: move the pixels and apply :func:`shear_signs`."""
    s1, s2 = shear_signs(k)
    return s1 * transform_scalar(gamma1, k), s2 * transform_scalar(gamma2, k)


def inverse(k: int) -> int:
    """The element undoing ``k``: turns are undone by the opposite turns; a flip-then-turn is its own inverse."""
    turns, flip = _check(k)
    return k if flip else (4 - turns) % 4


def shape_preserving(shape: tuple[int, int]) -> tuple[int, ...]:
    """Elements that keep a map of ``shape`` the same shape (all 8 for a square map)."""
    return tuple(range(N_ELEMENTS)) if shape[0] == shape[1] else (0, 2, 4, 6)


def transform_sample(sample: dict, k: int) -> dict:
    """Transform every map of a data-set sample: the pairs of :data:`SPIN2_PAIRS` as shear, any other
    array with at least 2 dimensions as a scalar map; non-map entries are copied."""
    out = dict(sample)
    done = set()
    for a, b in SPIN2_PAIRS:
        if a in sample and b in sample:
            out[a], out[b] = transform_shear(sample[a], sample[b], k)
            done.update((a, b))
        elif a in sample or b in sample:
            raise ValueError(f"sample has only one component of the spin-2 pair ({a}, {b})")
    for key, value in sample.items():
        if key not in done and np.ndim(value) >= 2:
            out[key] = transform_scalar(value, k)
    return out


def transform_raw(raw: Any, k: int) -> Any:
    """Transform a raw network input ``[..., 4, y, x]`` (g1, g2, mask, noise; :mod:`miu2net.nn.base`), or
    ``[..., 5, y, x]`` with the Wiener map (a scalar) as the fifth field."""
    s1, s2 = shear_signs(k)
    moved = transform_scalar(raw, k)
    sign = [s1, s2] + [1] * (moved.shape[-3] - 2)
    if _is_torch(moved):
        import torch

        return moved * torch.tensor(sign, dtype=moved.dtype, device=moved.device)[:, None, None]
    return moved * np.asarray(sign, dtype=moved.dtype)[:, None, None]


class RandomSymmetry:
    """Callable applying a uniformly drawn element to a sample dict (same element for every map).

    The draw uses ``torch.randint`` so that ``lightning.seed_everything`` and DataLoader worker seeding
    make it reproducible.
    """

    def __call__(self, sample: dict) -> dict:
        import torch

        shape = np.shape(sample["kappa"] if "kappa" in sample else sample["g1"])[-2:]
        choices = shape_preserving(shape)
        k = choices[int(torch.randint(len(choices), ()).item())]
        return transform_sample(sample, k)
