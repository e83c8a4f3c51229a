r"""N-body particles to convergence maps: reading snapshots, CIC projection, :math:`\kappa = \Sigma/\Sigma_{\rm cr}`.

Units. Positions inside this module are comoving Mpc/h and masses Msun/h, whatever the file used; the
readers convert. A (sub)box is projected along one axis onto an ``npix`` x ``npix`` grid covering
``[origin, origin + box)`` in the two other axes; map axes are (for a projection along) x: (y, z),
y: (z, x), z: (x, y) as (map x, map y), so each triad is right-handed. The surface density is physical:
a comoving length :math:`L` (Mpc/h) at the lens redshift is :math:`L/(h(1+z_l))` physical Mpc, so
:math:`\Sigma = M h^{-1} (1+z_l)^2 h^2 / A_{\rm com}` in Msun per physical Mpc². The pixel's angle is its
physical side over the angular-diameter distance to the lens. All particles count, wherever they lie
along the line of sight (the thin-lens approximation at ``z_lens``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from miu2net.errors import InputError

log = logging.getLogger(__name__)

AXES = {"x": (1, 2), "y": (2, 0), "z": (0, 1)}  # projection axis -> (map x, map y) particle axes
ARCMIN_PER_RAD = 180.0 * 60.0 / np.pi
# Gadget's default units: kpc/h lengths, 1e10 Msun/h masses.
GADGET_LENGTH_MPC_H = 1e-3
GADGET_MASS_MSUN_H = 1e10
CM_PER_MPC = 3.0856775814913673e24
G_PER_MSUN = 1.988409870698051e33


@dataclass(frozen=True)
class Particles:
    """Positions ``[N, 3]`` in comoving Mpc/h, masses ``[N]`` in Msun/h, and the box side if periodic."""

    positions: np.ndarray
    masses: np.ndarray
    box_size: float | None = None
    redshift: float | None = None


def read_particles(
    path: str | Path,
    *,
    length_unit: str = "auto",
    mass_unit: str = "auto",
    particle_mass: float | None = None,
    hubble: float | None = None,
) -> Particles:
    """Read particles from HDF5 (Gadget or SWIFT layout), ``.npz`` (``pos``, ``mass``) or ``.npy`` positions.

    Args:
        path: the snapshot. HDF5: every ``PartType*`` group with ``Coordinates`` and ``Masses`` (or the
            header's ``MassTable``). SWIFT files (with a ``Units`` group) are converted from their cgs
            units to Mpc/h and Msun/h with the file's ``h``. ``.npy``: an ``[N, 3]`` array of positions.
        length_unit: ``auto`` (Gadget layout: ``UnitLength_in_cm`` of the Header or Parameters attributes,
            else kpc/h with a warning; SWIFT: from its Units group; npy/npz: Mpc/h), ``Mpc/h``,
            ``kpc/h`` or ``Mpc`` (needs ``hubble``).
        mass_unit: ``auto`` (Gadget: 1e10 Msun/h; npz: Msun/h), ``Msun/h``, ``1e10Msun/h`` or ``Msun``.
        particle_mass: mass of every particle (in ``mass_unit``) when the file holds none.
        hubble: h, for ``Mpc`` / ``Msun`` units (HDF5 files give their own ``HubbleParam``).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".hdf5", ".h5", ".hdf"):
        return _read_hdf5(path, length_unit, mass_unit, particle_mass, hubble)
    if suffix in (".npy", ".npz"):
        try:
            data = np.load(path, allow_pickle=False)
            if suffix == ".npz":
                if "pos" not in data.files:
                    raise InputError(f"{path}: a .npz of particles needs 'pos' [N, 3] (and 'mass' [N]); "
                                     f"found {data.files}")
                pos = data["pos"]
                mass = data["mass"] if "mass" in data.files else None
                box = _scalar(data, "box_size", path)
                z = _scalar(data, "redshift", path)
            else:
                pos, mass, box, z = data, None, None, None
        except InputError:
            raise
        except Exception as exc:  # unreadable, or an object array (which would need pickle)
            raise InputError(f"{path}: cannot read ({exc})") from None
        _check_numeric(pos, "positions", path)
        if np.ndim(pos) != 2 or np.shape(pos)[1] != 3:
            raise InputError(f"{path}: positions must have shape [N, 3]; got {np.shape(pos)}")
        if mass is not None:
            _check_numeric(mass, "masses", path)
        if mass is None:
            if particle_mass is None:
                raise InputError(f"{path}: no particle masses in the file; give --particle-mass")
            mass = np.full(len(pos), float(particle_mass))
        scale_l = _length_scale(length_unit, "Mpc/h", hubble)
        scale_m = _mass_scale(mass_unit, "Msun/h", hubble)
        return _checked(np.asarray(pos, float) * scale_l, np.asarray(mass, float) * scale_m,
                        box * scale_l if box else None, z, path)
    raise InputError(f"{path}: unknown particle file type; expected HDF5 (.hdf5), .npz or .npy")


def _check_numeric(values: np.ndarray, what: str, path: Path) -> None:
    """Refuse an array that is not of numbers (text, bytes, booleans, objects): it would be read as
    something else, or fail deep inside the projection."""
    kind = np.asarray(values).dtype.kind
    if kind not in "iuf":
        name = {"U": "text", "S": "bytes", "b": "booleans", "O": "objects", "c": "complex numbers"}.get(kind, kind)
        raise InputError(f"{path}: the particle {what} are {name} ({np.asarray(values).dtype}); expected real "
                         "numbers")


def _scalar(data, key: str, path: Path) -> float | None:
    """The number stored under ``key`` in an .npz, or None when absent; InputError when it is not one number."""
    if key not in data.files:
        return None
    value = data[key]
    if np.asarray(value).dtype.kind not in "iuf" or np.size(value) != 1:
        raise InputError(f"{path}: '{key}' must be one number; got {np.asarray(value).dtype} of shape "
                         f"{np.shape(value)}")
    return float(np.asarray(value).reshape(-1)[0])


def _length_scale(unit: str, default: str, hubble: float | None) -> float:
    unit = default if unit == "auto" else unit
    table = {"Mpc/h": 1.0, "kpc/h": 1e-3}
    if unit in table:
        return table[unit]
    if unit in ("Mpc", "kpc"):
        if hubble is None:
            raise InputError(f"length unit {unit} needs the Hubble parameter h (--hubble)")
        return (1.0 if unit == "Mpc" else 1e-3) * hubble
    raise InputError(f"unknown length unit {unit!r}; use Mpc/h, kpc/h, Mpc or kpc")


def _mass_scale(unit: str, default: str, hubble: float | None) -> float:
    unit = default if unit == "auto" else unit
    table = {"Msun/h": 1.0, "1e10Msun/h": 1e10}
    if unit in table:
        return table[unit]
    if unit in ("Msun", "1e10Msun"):
        if hubble is None:
            raise InputError(f"mass unit {unit} needs the Hubble parameter h (--hubble)")
        return (1.0 if unit == "Msun" else 1e10) * hubble
    raise InputError(f"unknown mass unit {unit!r}; use Msun/h, 1e10Msun/h, Msun or 1e10Msun")


def _read_hdf5(path: Path, length_unit: str, mass_unit: str, particle_mass: float | None, hubble: float | None):
    import h5py

    try:
        f = h5py.File(path, "r")
    except Exception as exc:
        raise InputError(f"{path}: not a readable HDF5 file ({exc})") from None
    with f:
        header = dict(f["Header"].attrs) if "Header" in f else {}
        h = float(np.atleast_1d(header.get("HubbleParam", header.get("h", hubble if hubble else 0)))[0]) or hubble
        if "Cosmology" in f and not h:
            h = float(np.atleast_1d(f["Cosmology"].attrs.get("h", 0))[0]) or None
        swift = "Units" in f
        if swift and length_unit == "auto":
            if not h:
                raise InputError(f"{path}: SWIFT file without h in Cosmology or Header; give --hubble")
            units = f["Units"].attrs
            l_cgs = float(np.atleast_1d(units["Unit length in cgs (U_L)"])[0])
            m_cgs = float(np.atleast_1d(units["Unit mass in cgs (U_M)"])[0])
            scale_l = l_cgs / CM_PER_MPC * h
            scale_m = m_cgs / G_PER_MSUN * h if mass_unit == "auto" else _mass_scale(mass_unit, "Msun/h", h)
        else:
            # Gadget-4, Arepo and TNG state their units (cgs per internal unit, in h^-1 units) in the
            # Header or Parameters attributes; older Gadget files do not: then kpc/h and 1e10 Msun/h.
            declared = {**(dict(f["Parameters"].attrs) if "Parameters" in f else {}), **header}
            l_cgs, m_cgs = declared.get("UnitLength_in_cm"), declared.get("UnitMass_in_g")
            if length_unit == "auto":
                if l_cgs is not None:
                    scale_l = float(np.atleast_1d(l_cgs)[0]) / CM_PER_MPC
                else:
                    log.warning("%s: no UnitLength_in_cm in the file: lengths taken as Gadget's kpc/h "
                                "(give --length-unit otherwise)", path)
                    scale_l = GADGET_LENGTH_MPC_H
            else:
                scale_l = _length_scale(length_unit, "Mpc/h", h)
            if mass_unit == "auto":
                scale_m = float(np.atleast_1d(m_cgs)[0]) / G_PER_MSUN if m_cgs is not None else GADGET_MASS_MSUN_H
            else:
                scale_m = _mass_scale(mass_unit, "Msun/h", h)
        mass_table = np.atleast_1d(header.get("MassTable", np.zeros(6)))
        positions, masses = [], []
        groups = sorted(k for k in f.keys() if k.startswith("PartType"))
        for name in groups:
            group = f[name]
            if "Coordinates" not in group:
                continue
            _check_numeric(np.empty(0, dtype=group["Coordinates"].dtype), f"positions of {name}", path)
            pos = np.asarray(group["Coordinates"], dtype=np.float64)
            ptype = int(name.replace("PartType", "") or 0)
            if "Masses" in group:
                _check_numeric(np.empty(0, dtype=group["Masses"].dtype), f"masses of {name}", path)
                mass = np.asarray(group["Masses"], dtype=np.float64)
            elif ptype < len(mass_table) and mass_table[ptype] > 0:
                mass = np.full(len(pos), float(mass_table[ptype]))
            elif particle_mass is not None:
                mass = np.full(len(pos), float(particle_mass))
            else:
                raise InputError(f"{path}: {name} has no Masses and no MassTable entry; give --particle-mass")
            positions.append(pos)
            masses.append(mass)
        if not positions:
            raise InputError(f"{path}: no PartType*/Coordinates dataset found")
        box = header.get("BoxSize")
        box = float(np.atleast_1d(box)[0]) * scale_l if box is not None else None
        z = header.get("Redshift")
        z = float(np.atleast_1d(z)[0]) if z is not None else None
    return _checked(np.concatenate(positions) * scale_l, np.concatenate(masses) * scale_m, box, z, path)


def _checked(pos: np.ndarray, mass: np.ndarray, box: float | None, z: float | None, path: Path) -> Particles:
    if pos.ndim != 2 or pos.shape[1] != 3:
        raise InputError(f"{path}: positions must have shape [N, 3]; got {pos.shape}")
    if len(pos) == 0:
        raise InputError(f"{path}: no particles")
    if mass.shape != (len(pos),):
        raise InputError(f"{path}: {len(mass)} masses for {len(pos)} particles")
    if not (np.all(np.isfinite(pos)) and np.all(np.isfinite(mass))):
        raise InputError(f"{path}: positions or masses hold NaN or infinite values")
    if np.any(mass < 0):
        raise InputError(f"{path}: {int(np.count_nonzero(mass < 0))} particle(s) have negative masses (down to "
                         f"{mass.min():.4g}); masses must be >= 0")
    if not mass.any():
        raise InputError(f"{path}: every particle has mass 0, so the map would be empty; give the masses "
                         "(or --particle-mass when the file has none)")
    return Particles(positions=pos, masses=mass, box_size=box, redshift=z)


def cic_deposit(x: np.ndarray, y: np.ndarray, weight: np.ndarray, npix: int, *, periodic: bool) -> np.ndarray:
    """Cloud-in-cell deposit of weights at pixel coordinates (x, y) in [0, npix) onto ``[y, x]`` pixels.

    Pixel ``i`` spans ``[i, i+1)``; its centre is ``i + 0.5``. Non-periodic grids drop the part of a
    cloud that falls outside; periodic ones wrap it.
    """
    grid = np.zeros(npix * npix)
    fx, fy = x - 0.5, y - 0.5
    ix, iy = np.floor(fx).astype(np.int64), np.floor(fy).astype(np.int64)
    dx, dy = fx - ix, fy - iy
    for ox, wx in ((0, 1 - dx), (1, dx)):
        for oy, wy in ((0, 1 - dy), (1, dy)):
            jx, jy = ix + ox, iy + oy
            if periodic:
                jx, jy = jx % npix, jy % npix
                ok = slice(None)
            else:
                ok = (jx >= 0) & (jx < npix) & (jy >= 0) & (jy < npix)
            grid += np.bincount((jy[ok] * npix + jx[ok]), weights=(weight * wx * wy)[ok], minlength=npix * npix)
    return grid.reshape(npix, npix)


def project_kappa(
    particles: Particles,
    *,
    axis: str,
    z_lens: float,
    z_source: float,
    npix: int = 256,
    box: float | None = None,
    origin: tuple[float, float, float] | None = None,
    subtract_mean: bool = False,
    cosmo=None,
) -> tuple[np.ndarray, float]:
    """Convergence map of particles projected along ``axis`` (module docstring for units and axes).

    Args:
        particles: positions in comoving Mpc/h, masses in Msun/h.
        axis: ``"x"``, ``"y"`` or ``"z"``, the line of sight.
        z_lens, z_source: lens-plane and source redshifts.
        npix: map side in pixels.
        box: side (comoving Mpc/h) of the projected square; default the file's box size, else the
            particles' extent.
        origin: lower corner (Mpc/h) of the region; default 0 for a periodic box, else the particles' minimum.
        subtract_mean: subtract the mean surface density (convergence relative to the mean density).

    Returns:
        (kappa ``[npix, npix]``, pixel side in arcmin).
    """
    import pyccl as ccl

    from miu2net.physics.cosmology import planck18, sigma_crit

    if axis not in AXES:
        raise InputError(f"unknown axis {axis!r}; use x, y or z")
    if not 0 <= z_lens < z_source:
        raise InputError(f"need 0 <= z_lens < z_source; got z_lens={z_lens}, z_source={z_source}")
    if npix < 8:
        raise InputError(f"npix must be >= 8; got {npix}")
    cosmo = planck18() if cosmo is None else cosmo
    h = cosmo["h"]
    if particles.redshift is not None and abs(particles.redshift - z_lens) > 0.05 * (1 + z_lens):
        log.warning("the snapshot is at z = %.3g but is projected as a lens at z = %.3g", particles.redshift, z_lens)
    pos = particles.positions
    periodic = particles.box_size is not None and box is None and origin is None
    if box is None:
        box = particles.box_size if particles.box_size else float(np.max(np.ptp(pos, axis=0))) * (1 + 1e-9)
    if origin is None:
        origin = (0.0, 0.0, 0.0) if periodic else tuple(np.min(pos, axis=0))
    if box <= 0:
        raise InputError(f"box must be > 0 Mpc/h; got {box}")
    ax, ay = AXES[axis]
    x = (pos[:, ax] - origin[ax]) / box * npix
    y = (pos[:, ay] - origin[ay]) / box * npix
    inside = periodic or np.any((x > -1) & (x < npix + 1) & (y > -1) & (y < npix + 1) & (particles.masses > 0))
    mass_grid = cic_deposit(x, y, particles.masses / h, npix, periodic=periodic) if inside else None  # Msun/pixel
    if mass_grid is None or not mass_grid.any():
        raise InputError(f"no particle mass falls in the projected region (origin {tuple(float(o) for o in origin)}, "
                         f"side {box:g} Mpc/h): the map would be empty; check --origin and --box")
    pixel_phys_mpc = box / npix / h / (1.0 + z_lens)
    sigma = mass_grid / pixel_phys_mpc**2  # Msun / physical Mpc^2
    if subtract_mean:
        sigma = sigma - sigma.mean()
    kappa = sigma / sigma_crit(z_lens, z_source, cosmo=cosmo)
    d_a = ccl.angular_diameter_distance(cosmo, 1.0 / (1.0 + z_lens))
    pixel_arcmin = pixel_phys_mpc / d_a * ARCMIN_PER_RAD
    return kappa, float(pixel_arcmin)


def nfw_particles(
    rng: np.random.Generator,
    *,
    m200c: float,
    concentration: float,
    z: float,
    n_particles: int,
    center: tuple[float, float, float] = (0.0, 0.0, 0.0),
    cosmo=None,
) -> Particles:
    r"""Particles of an NFW halo truncated at :math:`r_{200c}`, isotropic, in comoving Mpc/h and Msun/h.

    Radii follow :math:`M(<r) \propto \ln(1+r/r_s) - (r/r_s)/(1+r/r_s)` for :math:`r \le r_{200c}`, with
    :math:`r_{200c} = [3 M_{200c}/(4\pi\, 200 \rho_c(z))]^{1/3}` (physical) and :math:`r_s = r_{200c}/c`.
    ``m200c`` is in Msun (not /h).
    """
    import pyccl as ccl

    from miu2net.physics.cosmology import planck18

    cosmo = planck18() if cosmo is None else cosmo
    h = cosmo["h"]
    a = 1.0 / (1.0 + z)
    rho_c = ccl.rho_x(cosmo, a, "critical")  # Msun / Mpc^3 physical
    r200 = (3 * m200c / (4 * np.pi * 200 * rho_c)) ** (1 / 3)  # physical Mpc
    r_s = r200 / concentration

    def mu(x):
        return np.log1p(x) - x / (1 + x)

    x_grid = np.linspace(0, concentration, 4096)
    cdf = mu(x_grid) / mu(concentration)
    radius = np.interp(rng.uniform(size=n_particles), cdf, x_grid) * r_s
    cos_t = rng.uniform(-1, 1, n_particles)
    phi = rng.uniform(0, 2 * np.pi, n_particles)
    sin_t = np.sqrt(1 - cos_t**2)
    offsets = np.stack([sin_t * np.cos(phi), sin_t * np.sin(phi), cos_t], axis=1) * radius[:, None]
    positions = np.asarray(center) + offsets * h / a  # physical Mpc -> comoving Mpc/h
    return Particles(positions=positions, masses=np.full(n_particles, m200c * h / n_particles), redshift=z)


def merging_pair_particles(
    rng: np.random.Generator,
    *,
    m1: float = 8e14,
    m2: float = 3e14,
    separation_mpc_h: float = 1.0,
    c1: float = 4.0,
    c2: float = 5.0,
    z: float = 0.3,
    n_particles: int = 400_000,
    box: float = 6.0,
) -> Particles:
    """Two NFW halos (masses M200c in Msun) separated along x in the middle of a ``box`` Mpc/h cube.

    Particles are shared in proportion to mass, so all have the same mass. A demo and test input for
    ``project``; merging-cluster pairs such as the Bullet cluster have separations of about 0.7 Mpc.
    """
    n1 = int(n_particles * m1 / (m1 + m2))
    mid = box / 2
    a = nfw_particles(rng, m200c=m1, concentration=c1, z=z, n_particles=n1,
                      center=(mid - separation_mpc_h / 2, mid, mid))
    b = nfw_particles(rng, m200c=m2, concentration=c2, z=z, n_particles=n_particles - n1,
                      center=(mid + separation_mpc_h / 2, mid, mid))
    return Particles(positions=np.concatenate([a.positions, b.positions]),
                     masses=np.concatenate([a.masses, b.masses]), box_size=None, redshift=z)


def write_gadget_hdf5(particles: Particles, path: str | Path, *, hubble: float) -> Path:
    """Write particles as a Gadget-layout HDF5 snapshot (kpc/h, 1e10 Msun/h, PartType1), atomically."""
    import h5py

    from miu2net.io.files import atomic_write

    def write(tmp: str) -> None:
        with h5py.File(tmp, "w") as f:
            head = f.create_group("Header")
            n = len(particles.masses)
            head.attrs["NumPart_ThisFile"] = np.array([0, n, 0, 0, 0, 0], dtype=np.uint32)
            head.attrs["NumPart_Total"] = np.array([0, n, 0, 0, 0, 0], dtype=np.uint32)
            head.attrs["MassTable"] = np.zeros(6)
            head.attrs["HubbleParam"] = hubble
            head.attrs["UnitLength_in_cm"] = GADGET_LENGTH_MPC_H * CM_PER_MPC
            head.attrs["UnitMass_in_g"] = GADGET_MASS_MSUN_H * G_PER_MSUN
            head.attrs["Redshift"] = particles.redshift or 0.0
            if particles.box_size:
                head.attrs["BoxSize"] = particles.box_size / GADGET_LENGTH_MPC_H
            group = f.create_group("PartType1")
            group["Coordinates"] = (particles.positions / GADGET_LENGTH_MPC_H).astype(np.float32)
            group["Masses"] = (particles.masses / GADGET_MASS_MSUN_H).astype(np.float32)

    return atomic_write(path, write)
