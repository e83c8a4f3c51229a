"""The map commands: ``reconstruct`` (shear to convergence), ``project`` (particles to convergence) and
``evaluate`` (every method on the same test maps). Parse, call the library, print."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Optional

import typer

from miu2net.cli.common import console, parse_center, parse_options, removed_if_unfinished, user_errors
from miu2net.errors import InputError

@user_errors
def reconstruct(
    shear_file: Annotated[Path, typer.Argument(
        help="Gridded shear (FITS with G1, G2, \\[MASK], \\[NOISE]; or .npz) or a galaxy catalogue "
             "(FITS table, CSV, Parquet with ra, dec, e1, e2, \\[weight, m, c1, c2]).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output convergence FITS.")],
    method: Annotated[str, typer.Option(help="Reconstruction method: auto (the shipped MIU2Net when the input matches its configuration, else wiener), miu2net, deepmass, ks, wiener, ksplus, sparse, mcalens.")] = "auto",
    png: Annotated[Optional[Path], typer.Option(help="Also write a PNG figure here.")] = None,
    smooth: Annotated[
        Optional[float], typer.Option(help="Gaussian smoothing, standard deviation in arcmin (ks only).")
    ] = None,
    option: Annotated[
        Optional[list[str]], typer.Option("--option", help="Method option KEY=VALUE (repeatable).")
    ] = None,
    pixel_arcmin: Annotated[Optional[float], typer.Option(help="Catalogue: pixel side in arcmin \\[0.41, the csst survey's].")] = None,
    center: Annotated[Optional[str], typer.Option(help="Catalogue: map centre RA,DEC in degrees \\[footprint centre].")] = None,
    size: Annotated[Optional[int], typer.Option(help="Catalogue: map side in pixels \\[fit the footprint].")] = None,
    noise_realisations: Annotated[int, typer.Option(
        help="Randomly rotated noise realisations for SIGMA_NOISE and SNR (0: none).")] = 0,
    ra_col: Annotated[Optional[str], typer.Option(help="Catalogue column of RA \\[ra].")] = None,
    dec_col: Annotated[Optional[str], typer.Option(help="Catalogue column of Dec \\[dec].")] = None,
    e1_col: Annotated[Optional[str], typer.Option(help="Catalogue column of e1 \\[e1].")] = None,
    e2_col: Annotated[Optional[str], typer.Option(help="Catalogue column of e2 \\[e2].")] = None,
    weight_col: Annotated[Optional[str], typer.Option(help="Catalogue column of weights \\[weight, if present].")] = None,
    m_col: Annotated[Optional[str], typer.Option(help="Multiplicative bias column \\[m, if present].")] = None,
    c1_col: Annotated[Optional[str], typer.Option(help="Additive bias column for e1 \\[c1, if present].")] = None,
    c2_col: Annotated[Optional[str], typer.Option(help="Additive bias column for e2 \\[c2, if present].")] = None,
    flip_e1: Annotated[bool, typer.Option(help="Negate e1 on reading (survey sign convention).")] = False,
    flip_e2: Annotated[bool, typer.Option(help="Negate e2 on reading (survey sign convention).")] = False,
    cut: Annotated[Optional[list[str]], typer.Option(help="Catalogue cut 'COLUMN OP NUMBER' (repeatable).")] = None,
    shape_noise_sigma: Annotated[Optional[float], typer.Option(
        help="Total intrinsic ellipticity rms for the noise map \\[measured from the catalogue].")] = None,
    tile: Annotated[Optional[int], typer.Option(help="Wide fields: reconstruct in tiles of this many pixels.")] = None,
    tile_overlap: Annotated[int, typer.Option(help="Overlap of neighbouring tiles, pixels.")] = 32,
    scheduler: Annotated[Optional[str], typer.Option(help="Dask scheduler for the tiles (and --healpix's chunks and patches): threads (default; a local cluster of --workers processes with --healpix), processes, synchronous, or a scheduler address (tcp://host:8786).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the noise realisations.")] = 0,
    coverage: Annotated[Optional[float], typer.Option(
        help="Calibrated miu2net models: probability content of KAPPA_E ± SIGMA \\[0.68].")] = None,
    preset: Annotated[Optional[str], typer.Option(
        help="Survey preset (csst, csst-small, euclid, lsst) whose numbers are the defaults: the catalogue's "
             "pixel, and the source redshifts, shape noise and density of the methods that take them.")] = None,
    healpix: Annotated[Optional[int], typer.Option(
        help="Catalogue: map it on the sphere, HEALPix maps of this NSIDE (ks and wiener on the sphere, other "
             "methods on flat patches of the survey's grid) \\[flat; on the sphere at 1024 when the footprint "
             "reaches more than 10 deg from its centre].")] = None,
    workers: Annotated[Optional[int], typer.Option(help="--healpix: Dask worker processes of the local cluster \\[2].")] = None,
    estimate: Annotated[Optional[str], typer.Option(
        help="Two-estimate miu2net models: which map is KAPPA_E: mean (the minimum-RMSE map, for peaks, "
             "cross-correlations and masses; SIGMA describes it) or power (the power-faithful map, for power "
             "spectra, PDF and higher-order statistics). The other is written too (KAPPA_POWER or KAPPA_MEAN) "
             "\\[mean].")] = None,
) -> None:
    """Reconstruct a convergence map from gridded shear or a catalogue; write FITS (and PNG)."""
    from rich.progress import Progress

    from miu2net.pipeline import CatalogueOptions, reconstruct_file, validate_reconstruct_request
    from miu2net.validate import check_number

    options = parse_options(option or [])
    if smooth is not None:
        if method != "ks":
            raise InputError("--smooth applies to --method ks; other methods take their own --option")
        check_number(smooth, "--smooth", low=0.0, unit="arcmin (Gaussian standard deviation; 0 for none)")
        options["smooth_arcmin"] = smooth
    if coverage is not None:
        if method not in ("auto", "miu2net", "deepmass"):
            raise InputError("--coverage applies to a calibrated network (--method miu2net)")
        check_number(coverage, "--coverage", low=0.0, high=1.0, low_open=True, high_open=True)
        options["coverage"] = coverage
    if estimate is not None:
        if method not in ("auto", "miu2net"):
            raise InputError("--estimate applies to a two-estimate network (--method miu2net or auto)")
        if estimate not in ("mean", "power"):
            raise InputError(f"--estimate must be mean or power; got {estimate!r}")
        options["estimate"] = estimate
    columns = {"ra": ra_col, "dec": dec_col, "e1": e1_col, "e2": e2_col, "weight": weight_col,
               "m": m_col, "c1": c1_col, "c2": c2_col}
    catalogue = CatalogueOptions(
        columns={k: v for k, v in columns.items() if v}, flip_e1=flip_e1, flip_e2=flip_e2, cuts=list(cut or []),
        pixel_arcmin=pixel_arcmin, size=size, center=parse_center(center), shape_noise_sigma=shape_noise_sigma,
    )
    if healpix is not None or _too_wide_for_one_map(shear_file, catalogue, tile=tile, size=size, center=center):
        from miu2net.cli.sphere import DEFAULT_NSIDE, check_sphere_request, reconstruct_on_sphere
        from miu2net.pipeline.sphere import FLAT_LIMIT_DEG

        nside = DEFAULT_NSIDE if healpix is None else healpix
        why = "" if healpix is not None else (
            f"the footprint reaches more than {FLAT_LIMIT_DEG:g} deg from its centre, where one flat map's scale is "
            f"off by several per cent: mapped on the sphere (HEALPix NSIDE {nside}; --healpix sets it)")
        check_sphere_request(shear_file, nside=nside, tile=tile, size=size, center=center, pixel_arcmin=pixel_arcmin)
        validate_reconstruct_request(shear_file, output=output, png=png, method="wiener" if method == "auto" else "ks",
                                     options={}, catalogue=catalogue, noise_realisations=noise_realisations, seed=seed)
        reconstruct_on_sphere(shear_file, output, png, method=method, options=options, catalogue=catalogue, nside=nside,
                              noise_realisations=noise_realisations, seed=seed, scheduler=scheduler, workers=workers,
                              why=why)
        return
    validate_reconstruct_request(shear_file, output=output, png=png, method=method, options=options,
                                 catalogue=catalogue, noise_realisations=noise_realisations, tile=tile,
                                 tile_overlap=tile_overlap, seed=seed)
    if preset is not None:
        from miu2net.config import PRESETS

        if preset not in PRESETS:
            raise InputError(f"--preset {preset!r} is not a survey preset; choose one of: {', '.join(PRESETS)}")
    if 0 < noise_realisations < 10:
        console.print(f"[yellow]warning:[/] SIGMA_NOISE from {noise_realisations} noise realisations is itself "
                      f"noisy (each pixel's σ to ±{100 / (2 * noise_realisations) ** 0.5:.0f} %), and so is the S/N; "
                      "use 20 or more for numbers to quote", highlight=False, soft_wrap=True)
    with Progress(console=console, transient=True, disable=noise_realisations == 0) as bar:
        task = bar.add_task("noise realisations", total=noise_realisations or 1)
        kappa, shear = reconstruct_file(
            shear_file, method=method, options=options, catalogue=catalogue, noise_realisations=noise_realisations,
            tile=tile, tile_overlap=tile_overlap, scheduler=scheduler, seed=seed,
            progress=lambda done: bar.update(task, completed=done), survey=preset,
        )
    _write_outputs(kappa, shear, output, png, title=shear_file.name)
    for line in _reconstruct_report(kappa, shear, output, png, method):
        console.print(line, highlight=False, soft_wrap=True, markup=False)


def _too_wide_for_one_map(path: Path, catalogue, *, tile: int | None, size: int | None, center: str | None) -> bool:
    """True for a catalogue (no flat-map option given) that reaches beyond :data:`FLAT_LIMIT_DEG` of its
    centre: one gnomonic map's scale would be off by 1/cos² of that angle there."""
    from miu2net.pipeline import is_gridded
    from miu2net.pipeline.sphere import FLAT_LIMIT_DEG, footprint_radius_deg

    if tile is not None or size is not None or center is not None or not path.is_file() or is_gridded(path):
        return False
    return footprint_radius_deg(path, catalogue) > FLAT_LIMIT_DEG


def _write_outputs(kappa, shear, output: Path, png: Path | None, *, title: str) -> None:
    """Write the FITS and, when asked, the PNG; if the figure fails, the FITS just written is removed."""
    from miu2net.io import write_kappa_map

    existed = output.exists()
    write_kappa_map(kappa, output)
    if png is None:
        return
    from miu2net.plots import plot_reconstruction

    try:
        plot_reconstruction(kappa, png, mask=shear.mask, title=f"{kappa.meta.get('method', '')}: {title}")
    except BaseException:
        if not existed:
            output.unlink(missing_ok=True)
        raise


def _reconstruct_report(kappa, shear, output: Path, png: Path | None, method: str) -> list[str]:
    """What ``reconstruct`` did, as lines for the console: auto's choice, binning, counts, CHI2DOF."""
    from miu2net.pipeline import explain_auto_fallback

    lines = []
    auto = kappa.meta.get("auto")
    if auto is not None:
        if auto["chosen"] == "miu2net":
            lines.append(f"method auto: the input fits the shipped model, so used miu2net with model {auto['model']}")
        else:
            lines.append(f"method auto: used {auto['chosen']}, since the shipped model does not fit this input "
                         f"({explain_auto_fallback(auto['reason'], shear)})"
                         + (f"; the network's option(s) {', '.join(auto['dropped_options'])} do not apply"
                            if auto.get("dropped_options") else ""))
    if kappa.kappa_power is not None:
        lines.append("KAPPA_E is the minimum-RMSE map (SIGMA describes it); KAPPA_POWER the power-faithful map "
                     "(for power spectra and higher-order statistics)")
    elif kappa.kappa_mean is not None:
        lines.append("KAPPA_E is the power-faithful map (--estimate power); KAPPA_MEAN the minimum-RMSE map")
    binned = kappa.meta.get("binned")
    if binned:
        lines.append(f"binned the {binned['from_pixel_arcmin']:g}' input {binned['factor']}x{binned['factor']} "
                     f"to the model's {binned['to_pixel_arcmin']:g}' pixels"
                     + (f" (cropped {binned['cropped'][0]} row(s), {binned['cropped'][1]} column(s))"
                        if any(binned["cropped"]) else ""))
    if shear.meta.get("mask_nonfinite"):
        lines.append(f"{shear.meta['mask_nonfinite']} MASK pixel(s) holding NaN or inf read as masked (MASK = 0)")
    used = kappa.meta.get("method", method)
    model = kappa.meta.get("model")
    message = (f"wrote {output} (method {used}" + (f", model {model}" if model and model != "none" else "")
               + f", {kappa.shape[0]}x{kappa.shape[1]} at {kappa.pixel_arcmin:g}')")
    if "n_galaxies_in_map" in shear.meta:
        message += f" from {shear.meta['n_galaxies_in_map']} galaxies" + _catalogue_notes(shear.meta)
    if "chi2dof" in kappa.meta:
        message += f", CHI2DOF = {kappa.meta['chi2dof']:.3f}"
    if png is not None:
        message += f"; figure {png}"
    lines.append(message)
    return lines


def _catalogue_notes(meta: dict) -> str:
    """The catalogue rows dropped or changed on reading, e.g. `` (3 rows with missing/NaN/inf values dropped)``."""
    notes = []
    if meta.get("n_dropped_nonfinite"):
        notes.append(f"{meta['n_dropped_nonfinite']} rows with missing/NaN/inf values dropped")
    for reason, count in (meta.get("n_dropped_invalid") or {}).items():
        notes.append(f"{count} rows with {reason} dropped")
    if meta.get("n_ra_wrapped"):
        notes.append(f"{meta['n_ra_wrapped']} negative RAs read as RA + 360")
    return f" ({'; '.join(notes)})" if notes else ""


@user_errors
def project(
    particles_file: Annotated[Path, typer.Argument(help="Particles: HDF5 (Gadget/SWIFT layout), .npz (pos, mass) or .npy.")],
    z_lens: Annotated[float, typer.Option(help="Redshift of the lens plane.")],
    z_source: Annotated[float, typer.Option(help="Redshift of the sources.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output FITS with one KAPPA_<AXIS> HDU per axis.")],
    axes: Annotated[str, typer.Option(help="Lines of sight, comma-separated from x, y, z.")] = "x,y,z",
    box: Annotated[Optional[float], typer.Option(help="Side of the projected region, comoving Mpc/h \\[file box or extent].")] = None,
    origin: Annotated[Optional[str], typer.Option(help="Lower corner X,Y,Z of the region, Mpc/h.")] = None,
    npix: Annotated[int, typer.Option(help="Map side in pixels.")] = 256,
    length_unit: Annotated[str, typer.Option(help="auto, Mpc/h, kpc/h, Mpc, kpc.")] = "auto",
    mass_unit: Annotated[str, typer.Option(help="auto, Msun/h, 1e10Msun/h, Msun, 1e10Msun.")] = "auto",
    particle_mass: Annotated[Optional[float], typer.Option(help="Mass per particle when the file has none.")] = None,
    hubble: Annotated[Optional[float], typer.Option(help="h, when units without /h are used.")] = None,
    subtract_mean: Annotated[bool, typer.Option(help="Subtract the mean surface density.")] = False,
    compare_png: Annotated[Optional[Path], typer.Option(
        help="Also write truth beside reconstructions from simulated noisy shear (first axis).")] = None,
    compare_methods: Annotated[str, typer.Option(help="Methods for --compare-png.")] = "ks,wiener",
    n_gal: Annotated[float, typer.Option(help="Source density per arcmin^2 for --compare-png.")] = 50.0,
    seed: Annotated[int, typer.Option(help="Seed of the shape noise for --compare-png.")] = 0,
) -> None:
    """Project N-body particles to convergence maps kappa = Sigma / Sigma_crit along each axis."""
    from miu2net.io import write_kappa_planes
    from miu2net.sims.particles import project_kappa, read_particles

    _check_project_request(particles_file, output, compare_png, z_lens=z_lens, z_source=z_source, npix=npix,
                           box=box, particle_mass=particle_mass, hubble=hubble, n_gal=n_gal, seed=seed)
    methods = _parse_compare_methods(compare_methods)
    axis_list = [a.strip().lower() for a in axes.split(",") if a.strip()]
    bad = [a for a in axis_list if a not in ("x", "y", "z")]
    if bad or not axis_list:
        raise InputError(f"--axes takes x, y and/or z separated by commas; got {axes!r}")
    corner = None
    if origin is not None:
        try:
            corner = tuple(float(v) for v in origin.split(","))
            assert len(corner) == 3 and all(math.isfinite(v) for v in corner)
        except (ValueError, AssertionError):
            raise InputError(f"--origin expects X,Y,Z in Mpc/h, three finite numbers; got {origin!r}") from None
    particles = read_particles(particles_file, length_unit=length_unit, mass_unit=mass_unit,
                               particle_mass=particle_mass, hubble=hubble)
    planes, pixel = {}, None
    for axis in axis_list:
        planes[f"KAPPA_{axis.upper()}"], pixel = project_kappa(
            particles, axis=axis, z_lens=z_lens, z_source=z_source, npix=npix, box=box, origin=corner,
            subtract_mean=subtract_mean)
    header = {"ZLENS": z_lens, "ZSOURCE": z_source, "NPART": len(particles.masses), "INPUT": str(particles_file)[-68:]}
    maps = None
    if compare_png is not None:  # before -o is written: a method that cannot run here leaves nothing behind
        from miu2net.evaluate import compare_methods_on_truth

        maps = compare_methods_on_truth(next(iter(planes.values())), pixel_arcmin=pixel, methods=methods,
                                        n_gal_arcmin2=n_gal, seed=seed)
    existed = output.exists()
    write_kappa_planes(planes, output, pixel_arcmin=pixel, header=header)
    message = f"wrote {output}: {', '.join(planes)} ({npix}x{npix} at {pixel:.4g}')"
    if maps is not None:
        from miu2net.plots import plot_comparison

        try:
            plot_comparison(maps, compare_png, pixel_arcmin=pixel, title=f"{particles_file.name}: {axis_list[0]} axis")
        except BaseException:
            if not existed:
                output.unlink(missing_ok=True)
            raise
        message += f"; figure {compare_png}"
    console.print(message, highlight=False, soft_wrap=True)


def _parse_compare_methods(text: str) -> list[str]:
    """The methods of ``--compare-methods``, each checked to exist (InputError naming the unknown ones)."""
    from miu2net.methods import METHODS

    names = [m.strip() for m in text.split(",") if m.strip()]
    if not names:
        raise InputError(f"--compare-methods takes method names separated by commas (e.g. ks,wiener); got {text!r}")
    unknown = [m for m in names if m not in METHODS]
    if unknown:
        raise InputError(f"--compare-methods: unknown method(s) {', '.join(repr(m) for m in unknown)}; choose from "
                         f"{', '.join(sorted(METHODS))}")
    return names


@user_errors
def evaluate(
    data: Annotated[Path, typer.Option(help="Zarr store written by `miu2net simulate` (its test split is used).")],
    out: Annotated[Path, typer.Option(help="Folder for metrics.json, metrics.md and the figures.")],
    methods: Annotated[str, typer.Option(help="Comma-separated methods; unavailable ones are skipped with a note.")] =
        "miu2net,deepmass,wiener,mcalens,sparse,ksplus,ks",
    n: Annotated[int, typer.Option("--n", help="Number of test maps (the first n of the split).")] = 500,
    split: Annotated[str, typer.Option(help="Which split to evaluate on.")] = "test",
    option: Annotated[Optional[list[str]], typer.Option(
        "--option", help="Method option METHOD.KEY=VALUE (repeatable), e.g. ks.smooth_arcmin=1.5.")] = None,
) -> None:
    """Run every method on the same held-out maps: metrics table (JSON + Markdown) and figures."""
    from rich.progress import Progress

    from miu2net.evaluate import evaluate as run_protocol
    from miu2net.evaluate import markdown_table, runnable_methods, write_report
    from miu2net.sims.dataset import SimDataset
    from miu2net.validate import check_output_path

    if not data.is_dir():
        raise InputError(f"--data {data}: no such dataset (a Zarr folder written by `miu2net simulate`)")
    check_output_path(out, "--out", inputs=[data], folder=True)
    if n < 1:
        raise InputError(f"--n must be >= 1 (test maps to evaluate); got {n}")
    if split not in ("train", "val", "test"):
        raise InputError(f"--split must be train, val or test; got {split!r}")
    dataset = SimDataset(data, split, fields=("kappa", "g1", "g2", "mask", "noise"))
    count = min(n, len(dataset))
    if count < 1:
        raise InputError(f"{data}: split {split} holds no sample")
    per_method: dict[str, dict] = {}
    for key, value in parse_options(option or []).items():
        if "." not in key:
            raise InputError(f"--option for evaluate is METHOD.KEY=VALUE; got {key!r}")
        name, opt = key.split(".", 1)
        per_method.setdefault(name, {})[opt] = value
    wanted = [m.strip() for m in methods.split(",") if m.strip()]
    unused = sorted(set(per_method) - set(wanted))
    if unused:
        raise InputError(f"--option names {', '.join(unused)}, which is not among --methods {', '.join(wanted)}; "
                         "check the spelling")
    usable, skipped = runnable_methods(wanted, dataset[0], dataset.pixel_arcmin, per_method)
    for name, reason in skipped.items():
        console.print(f"[yellow]skipping {name}:[/] {reason}", highlight=False, soft_wrap=True)
    if not usable:
        raise InputError("none of the requested methods can run on these maps")
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(f"evaluating {len(usable)} method(s)", total=count)
        report = run_protocol((dataset[i] for i in range(count)), pixel_arcmin=dataset.pixel_arcmin,
                              methods=usable, method_options=per_method,
                              progress=lambda done: bar.update(task, completed=done))
    with removed_if_unfinished(out):  # a report cut short (Ctrl-C, a full disk) is not left half-written
        paths = write_report(report, out, meta={"data": str(data), "split": split, "skipped": skipped,
                                                "options": per_method})
    console.print(markdown_table(report), highlight=False, soft_wrap=True)
    if n > count:
        console.print(f"--n {n}: split {split} holds {count} map(s); evaluated all {count}", highlight=False,
                      soft_wrap=True)
    console.print(f"wrote {', '.join(str(p) for p in paths.values())}", highlight=False, soft_wrap=True)


def _check_project_request(particles: Path, output: Path, compare_png: Path | None, *, z_lens: float,
                           z_source: float, npix: int, box: float | None, particle_mass: float | None,
                           hubble: float | None, n_gal: float, seed: int = 0) -> None:
    """The paths and numbers of ``project``, checked before the particles are read (InputError)."""
    from miu2net.validate import (FITS_OUTPUT_SUFFIXES, check_input_file, check_map_size_memory, check_number,
                                  check_output_path, check_seed)

    check_input_file(particles, "particles")
    check_output_path(output, "-o", inputs=[particles], suffix=FITS_OUTPUT_SUFFIXES)
    if compare_png is not None:
        check_output_path(compare_png, "--compare-png", inputs=[particles], others=[("-o", output)], suffix=".png")
    import pyccl

    z_max = math.floor(1.0 / pyccl.spline_params.A_SPLINE_MINLOG) - 2  # CCL's distance tables end there (z 9998)
    check_number(z_lens, "--z-lens", low=0.0, low_open=True, high=z_max)
    check_number(z_source, "--z-source", low=0.0, low_open=True, high=z_max)
    if z_source <= z_lens:
        raise InputError(f"--z-lens {z_lens:g} and --z-source {z_source:g}: need z_lens < z_source (the sources lie "
                         "behind the lens)")
    check_number(npix, "--npix", low=8, unit="pixels")
    check_map_size_memory(npix, flag="--npix")
    check_number(box, "--box", low=0.0, low_open=True, unit="Mpc/h")
    check_number(particle_mass, "--particle-mass", low=0.0, low_open=True)
    check_number(hubble, "--hubble", low=0.0, high=2.0, low_open=True)
    check_number(n_gal, "--n-gal", low=0.0, high=1e4, low_open=True,
                 unit="per arcmin^2; the deepest surveys reach a few hundred")
    check_seed(seed)
