"""``reconstruct --healpix``: a catalogue of any footprint to HEALPix maps. Parse, call the library, print."""

from __future__ import annotations

from pathlib import Path

from miu2net.cli.common import console
from miu2net.errors import InputError

#: NSIDE of ``reconstruct`` on the sphere when the footprint is too wide for one flat map and none is
#: given: 3.4′ pixels (as the DES Y3 mass maps), a full-sky map of 100 MB per column (times and memory:
#: benchmarks/results/sphere).
DEFAULT_NSIDE = 1024


def check_sphere_request(shear_file: Path, *, nside: int, tile: int | None, size: int | None,
                         center: str | None, pixel_arcmin: float | None) -> None:
    """The flat-map options that do not apply on the sphere, refused by name (InputError)."""
    from miu2net.pipeline import is_gridded

    if is_gridded(shear_file):
        raise InputError(f"--healpix maps a galaxy catalogue on the sphere; {shear_file} is gridded shear (a flat map)")
    given = [flag for flag, value in (("--tile", tile), ("--size", size), ("--center", center),
                                      ("--pixel-arcmin", pixel_arcmin)) if value is not None]
    if given:
        raise InputError(f"{', '.join(given)} set a flat map and do not apply with --healpix {nside}")


def reconstruct_on_sphere(shear_file: Path, output: Path, png: Path | None, *, method: str, options: dict,
                          catalogue, nside: int, noise_realisations: int, seed: int, scheduler: str | None,
                          workers: int | None, why: str = "") -> None:
    """Run :func:`miu2net.pipeline.sphere.reconstruct_healpix` with a progress bar, write the HEALPix FITS
    (and the figure; if the figure fails, the FITS just written is removed) and print what was done."""
    from rich.progress import Progress

    from miu2net.io.healpix import write_healpix_maps
    from miu2net.pipeline.sphere import reconstruct_healpix

    chosen = "wiener" if method == "auto" else method
    with Progress(console=console, transient=True) as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        maps, meta = reconstruct_healpix(shear_file, nside=nside, method=chosen, options=options, catalogue=catalogue,
                                         noise_realisations=noise_realisations, seed=seed, scheduler=scheduler,
                                         workers=workers, progress=progress)
    existed = output.exists()
    write_healpix_maps(maps, output, meta=meta)
    if png is not None:
        from miu2net.plots import plot_healpix

        try:
            plot_healpix(maps, png, title=f"{meta['method']}: {shear_file.name}")
        except BaseException:
            if not existed:
                output.unlink(missing_ok=True)
            raise
    if why:
        console.print(why, highlight=False, soft_wrap=True, markup=False)
    counts = meta["counts"]
    dropped = counts["n_rows"] - counts["n_galaxies"]
    extra = f" ({dropped} rows dropped or cut)" if dropped else ""
    patches = f", {meta['patches']} flat patches of {meta['patch_size']}² at {meta['patch_pixel_arcmin']:g}'" \
        if "patches" in meta else ""
    wrote = ", ".join(str(p) for p in (output, png) if p is not None)
    console.print(f"wrote {wrote} (method {meta['method']}, HEALPix NSIDE {nside}{patches}) from "
                  f"{counts['n_galaxies']} galaxies{extra} in {meta['seconds']:.0f} s", highlight=False, soft_wrap=True,
                  markup=False)
