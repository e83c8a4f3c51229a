"""Every command, given bad input, prints one ``error:`` line, exits with code 2 and leaves nothing behind.

One table of cases across reconstruct, project, simulate, evaluate, show, train, calibrate, models list
and export-onnx (issue 15). Each case runs on tiny files made once per module: a 32² gridded shear map,
a small catalogue, a fake particle file, copies of a shipped model. Every case writes only into its own
``out/`` folder, which must be empty afterwards. Beside the table: the inputs that are accepted but
changed (negative RA, impossible ellipticities), the advice of ``auto``, the help text and ``models list``.
"""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
from astropy.io import fits
from typer.testing import CliRunner

from miu2net.cli import app
from miu2net.nn.checkpoint import MODELS_DIR

runner = CliRunner()


def _catalogue(path, n=4000, side_deg=0.3, ra0=150.0, dec0=2.0, seed=1, **overrides):
    """A uniform catalogue of ``n`` galaxies on a ``side_deg`` square, shape noise only; ``overrides``
    replace whole columns (arrays) or their first rows (dict ``{column: values}`` under ``"first"``)."""
    rng = np.random.default_rng(seed)
    cols = {"ra": ra0 + rng.uniform(-side_deg / 2, side_deg / 2, n), "dec": dec0 + rng.uniform(-side_deg / 2, side_deg / 2, n),
            "e1": 0.26 * rng.standard_normal(n).clip(-3, 3), "e2": 0.26 * rng.standard_normal(n).clip(-3, 3),
            "weight": np.ones(n)}
    for name, values in overrides.get("first", {}).items():
        cols[name][: len(values)] = values
    fits.BinTableHDU.from_columns([fits.Column(name=k, format="D", array=v) for k, v in cols.items()]).writeto(path)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The inputs of every case, made once: paths by name."""
    d = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(3)
    n = 32
    hdus = [fits.PrimaryHDU()]
    hdus[0].header["PIXSCALE"] = 0.5
    for name, data in (("G1", 0.05 * rng.standard_normal((n, n))), ("G2", 0.05 * rng.standard_normal((n, n))),
                       ("MASK", np.ones((n, n))), ("NOISE", np.full((n, n), 0.05))):
        hdus.append(fits.ImageHDU(data, name=name))
    fits.HDUList(hdus).writeto(d / "shear.fits")
    raw = (d / "shear.fits").read_bytes()
    (d / "truncated.fits").write_bytes(raw[: len(raw) - 9000])
    paths = {"shear": d / "shear.fits", "truncated": d / "truncated.fits",
             "cat": _catalogue(d / "cat.fits"),
             "one": _catalogue(d / "one.fits", n=1),
             "ra400": _catalogue(d / "ra400.fits", first={"ra": [400.0]}),
             "all_e_bad": _catalogue(d / "all_e_bad.fits", n=50, first={"e1": np.full(50, 1.5)}),
             "particles": d / "particles.npz", "folder": d / "a_folder", "store": d / "empty.zarr",
             "file": d / "existing.txt", "model_dir": d / "models"}
    np.savez(paths["particles"], pos=rng.uniform(0, 10, (100, 3)), mass=np.ones(100))
    paths["folder"].mkdir()
    paths["store"].mkdir()
    paths["file"].write_text("not a folder")
    paths["model_dir"].mkdir()
    _model_copies(paths["model_dir"], paths)
    _model_shear(d / "shear128.fits", rng)
    paths["shear128"] = d / "shear128.fits"
    return paths


def _model_copies(folder, paths):
    """Copies of the shipped model: intact, with a non-numeric pixel, with NaN weights, with 10⁶ output channels."""
    from safetensors.torch import load_file, save_file

    src = MODELS_DIR / "miu2net-csst-quick"
    for name in ("copy", "pixel_x", "nan_weights", "huge"):
        shutil.copyfile(src.with_suffix(".safetensors"), folder / f"{name}.safetensors")
        shutil.copyfile(src.with_suffix(".json"), folder / f"{name}.json")
        paths[f"model_{name}"] = folder / name
    config = json.loads((folder / "pixel_x.json").read_text())
    config["pixel_arcmin"] = "x"
    (folder / "pixel_x.json").write_text(json.dumps(config))
    config = json.loads((folder / "huge.json").read_text())
    config.setdefault("arch_kwargs", {})["out_channels"] = 1_000_000
    (folder / "huge.json").write_text(json.dumps(config))
    state = load_file(folder / "nan_weights.safetensors")
    for tensor in state.values():
        if tensor.is_floating_point():
            tensor.fill_(float("nan"))
    save_file(state, folder / "nan_weights.safetensors", metadata={"format": "miu2net-model"})


def _model_shear(path, rng):
    """Gridded shear the shipped model accepts: 128² of 0.82', noise in its range."""
    n = 128
    hdus = [fits.PrimaryHDU()]
    hdus[0].header["PIXSCALE"] = 0.82
    for name, data in (("G1", 0.05 * rng.standard_normal((n, n))), ("G2", 0.05 * rng.standard_normal((n, n))),
                       ("MASK", np.ones((n, n))), ("NOISE", np.full((n, n), 0.05))):
        hdus.append(fits.ImageHDU(data, name=name))
    fits.HDUList(hdus).writeto(path)


# (id, arguments with {name} placeholders for the files above and {out} for the case's output folder,
#  a fragment of the expected error line)
CASES = [
    # reconstruct: outputs
    ("reconstruct -o onto the input", "reconstruct {shear} -o {shear} --method ks", "would destroy the input"),
    ("reconstruct -o onto a folder", "reconstruct {shear} -o {folder} --method ks", "is an existing directory"),
    ("reconstruct -o into a missing folder", "reconstruct {shear} -o {out}/no/k.fits --method ks", "does not exist"),
    ("reconstruct --png into a missing folder", "reconstruct {shear} -o {out}/k.fits --png {out}/no/k.png --method ks",
     "does not exist"),
    ("reconstruct --png onto -o", "reconstruct {shear} -o {out}/k.fits --png {out}/k.fits --method ks",
     "its own name"),
    ("reconstruct --png onto the input", "reconstruct {shear} -o {out}/k.fits --png {shear} --method ks",
     "would destroy the input"),
    # reconstruct: options
    ("--option smooth_arcmin=abc", "reconstruct {shear} -o {out}/k.fits --method ks --option smooth_arcmin=abc",
     "expects a number"),
    ("--option smooth_arcmin=-1", "reconstruct {shear} -o {out}/k.fits --method ks --option smooth_arcmin=-1",
     "must lie in"),
    ("--option smooth_arcmin=NaN", "reconstruct {shear} -o {out}/k.fits --method ks --option smooth_arcmin=NaN",
     "finite"),
    ("--option unknown", "reconstruct {shear} -o {out}/k.fits --method ks --option nope=1", "has no option"),
    ("--option pad=3", "reconstruct {shear} -o {out}/k.fits --method ks --option pad=3", "true or false"),
    ("--option max_iter=2.5", "reconstruct {shear} -o {out}/k.fits --method wiener --option max_iter=2.5",
     "whole number"),
    ("--option without =", "reconstruct {shear} -o {out}/k.fits --method ks --option smooth", "KEY=VALUE"),
    ("--option with auto", "reconstruct {shear} -o {out}/k.fits --option smooth_arcmin=1", "give --method too"),
    ("--option array-valued", "reconstruct {shear} -o {out}/k.fits --method wiener --option nz=1", "Python API"),
    ("--smooth -2", "reconstruct {shear} -o {out}/k.fits --method ks --smooth -2", "--smooth must lie in"),
    ("catalogue option on gridded input", "reconstruct {shear} -o {out}/k.fits --method ks --size 256",
     "not a catalogue"),
    ("--noise-realisations 1", "reconstruct {shear} -o {out}/k.fits --method ks --noise-realisations 1",
     "at least 2"),
    ("-o on a file system that takes no file", "reconstruct {shear} -o /proc/k.fits --method ks", "not writable"),
    ("--smooth nan", "reconstruct {shear} -o {out}/k.fits --method ks --smooth nan", "--smooth must be a finite"),
    ("--smooth with wiener", "reconstruct {shear} -o {out}/k.fits --method wiener --smooth 1", "--smooth applies"),
    ("--coverage 1.5", "reconstruct {shear} -o {out}/k.fits --method miu2net --coverage 1.5", "--coverage must lie"),
    ("--method unknown", "reconstruct {shear} -o {out}/k.fits --method nosuch", "unknown method"),
    ("--noise-realisations -1", "reconstruct {shear} -o {out}/k.fits --method ks --noise-realisations -1",
     "--noise-realisations must lie"),
    ("--tile 4", "reconstruct {shear} -o {out}/k.fits --method ks --tile 4", "--tile must lie"),
    ("--tile-overlap >= --tile", "reconstruct {shear} -o {out}/k.fits --method ks --tile 16 --tile-overlap 16",
     "--tile-overlap must lie"),
    # reconstruct: inputs
    ("missing input", "reconstruct {out}/nothing.fits -o {out}/k.fits", "no such file"),
    ("input is a folder", "reconstruct {folder} -o {out}/k.fits", "is a directory"),
    ("truncated FITS", "reconstruct {truncated} -o {out}/k.fits --method ks", "truncated"),
    # reconstruct: catalogues
    ("--size 100000", "reconstruct {cat} -o {out}/k.fits --size 100000", "TB of memory"),
    ("--size 20000", "reconstruct {cat} -o {out}/k.fits --size 20000", "GB of memory"),
    ("--size 4", "reconstruct {cat} -o {out}/k.fits --size 4", "--size must lie"),
    ("--pixel-arcmin nan", "reconstruct {cat} -o {out}/k.fits --pixel-arcmin nan", "--pixel-arcmin must be a finite"),
    ("--pixel-arcmin -1", "reconstruct {cat} -o {out}/k.fits --pixel-arcmin -1", "--pixel-arcmin must lie"),
    ("--pixel-arcmin 0", "reconstruct {cat} -o {out}/k.fits --pixel-arcmin 0", "--pixel-arcmin must lie"),
    ("--center not numbers", "reconstruct {cat} -o {out}/k.fits --center abc", "--center expects"),
    ("--center dec 95", "reconstruct {cat} -o {out}/k.fits --center 150,95", "--center Dec must lie"),
    ("--center ra 400", "reconstruct {cat} -o {out}/k.fits --center 400,2", "--center RA must lie"),
    ("--shape-noise-sigma 1.5", "reconstruct {cat} -o {out}/k.fits --shape-noise-sigma 1.5",
     "--shape-noise-sigma must lie"),
    ("one-galaxy catalogue", "reconstruct {one} -o {out}/k.fits", "too small for a map"),
    ("one galaxy, --size 64", "reconstruct {one} -o {out}/k.fits --size 64", "too small for the requested map"),
    ("ra 400", "reconstruct {ra400} -o {out}/k.fits", "ra out of range"),
    ("every |e| >= 1", "reconstruct {all_e_bad} -o {out}/k.fits", "|e| >= 1"),
    ("bad --cut", "reconstruct {cat} -o {out}/k.fits --cut 'mag <'", "cannot read the cut"),
    ("missing column", "reconstruct {cat} -o {out}/k.fits --ra-col RA_J2000", "no column 'RA_J2000'"),
    # project
    ("project -o onto the particles", "project {particles} --z-lens 0.3 --z-source 1 -o {particles}",
     "would destroy the input"),
    ("project z_source < z_lens", "project {particles} --z-lens 0.5 --z-source 0.2 -o {out}/k.fits", "z_lens < z_source"),
    ("project --z-lens nan", "project {particles} --z-lens nan --z-source 1 -o {out}/k.fits", "--z-lens must be a finite"),
    ("project --npix 100000", "project {particles} --z-lens 0.3 --z-source 1 --npix 100000 -o {out}/k.fits",
     "TB of memory"),
    ("project --compare-png into a missing folder",
     "project {particles} --z-lens 0.3 --z-source 1 -o {out}/k.fits --compare-png {out}/no/c.png", "does not exist"),
    ("project missing particles", "project {out}/none.npz --z-lens 0.3 --z-source 1 -o {out}/k.fits", "no such file"),
    # simulate
    ("simulate --n 0 --n-test 0", "simulate --out {out}/s.zarr --preset csst-small --n 0 --n-test 0", "empty store"),
    ("simulate --out onto a file", "simulate --out {file} --n 2", "is an existing file"),
    ("simulate --n -1", "simulate --out {out}/s.zarr --n -1", "--n must be >= 0"),
    ("simulate --batch-size 0", "simulate --out {out}/s.zarr --batch-size 0", "--batch-size must be >= 1"),
    ("simulate unknown preset", "simulate --out {out}/s.zarr --preset nosuch", "unknown preset"),
    ("simulate --kappa-pixel-arcmin nan", "simulate --out {out}/s.zarr --kappa-from {folder} --kappa-pixel-arcmin nan",
     "--kappa-pixel-arcmin must be a finite"),
    ("simulate missing --config", "simulate --out {out}/s.zarr --config {out}/none.yaml", "no such configuration file"),
    # evaluate
    ("evaluate --out onto a file", "evaluate --data {store} --out {file}", "is an existing file"),
    ("evaluate missing --data", "evaluate --data {out}/none.zarr --out {out}/report", "no such dataset"),
    ("evaluate --n 0", "evaluate --data {store} --out {out}/report --n 0", "--n must be >= 1"),
    ("evaluate --out inside the store", "evaluate --data {store} --out {store}/report", "lies inside the input"),
    # show
    ("show missing store", "show {out}/none.zarr -o {out}/s.png", "no such dataset"),
    ("show -o into a missing folder", "show {store} -o {out}/no/s.png", "does not exist"),
    ("show -o onto a folder", "show {store} -o {folder}", "is an existing directory"),
    ("show unknown split", "show {store} --split nosuch -o {out}/s.png", "--split must be"),
    # train
    ("train --out onto a file", "train --data {store} --out {file}", "is an existing file"),
    ("train missing --data", "train --data {out}/none.zarr --out {out}/run", "no such file"),
    ("train --lr nan", "train --data {store} --out {out}/run --lr nan", "--lr must be a finite"),
    ("train --epochs 0", "train --data {store} --out {out}/run --epochs 0", "epochs"),
    ("train bad --n-gal-range", "train --data {store} --out {out}/run --stream --n-gal-range 5,abc", "MIN,MAX"),
    ("train --n-gal-range reversed", "train --data {store} --out {out}/run --stream --n-gal-range 50,5", "MIN <= MAX"),
    # calibrate
    ("calibrate into the shipped folder", "calibrate --model miu2net-csst-quick --stream --out {shipped}/mine",
     "shipped models' folder"),
    ("calibrate onto a shipped model", "calibrate --model miu2net-csst-quick --stream --out {shipped}/miu2net-csst-quick",
     "shipped models' folder"),
    ("calibrate onto the model itself", "calibrate --model {model_copy} --stream --out {model_copy}", "the model itself"),
    ("calibrate --n 0", "calibrate --model {model_copy} --stream --n 0 --out {out}/cal", "--n must be >= 1"),
    ("calibrate missing --data", "calibrate --model {model_copy} --data {out}/none.zarr --out {out}/cal", "no such"),
    ("calibrate --out into a missing folder", "calibrate --model {model_copy} --stream --out {out}/no/cal",
     "does not exist"),
    # models
    ("models list missing --directory", "models list --directory {out}/none", "no such folder"),
    ("export-onnx -o into a missing folder", "models export-onnx {model_copy} -o {out}/no/m.onnx", "does not exist"),
    # model files (issue 14 validates the model card; the CLI already reports InputError as one line)
    ("model JSON pixel_arcmin 'x'",
     "reconstruct {shear128} -o {out}/k.fits --method miu2net --option model={model_pixel_x}", "pixel_arcmin"),
    ("model with NaN weights",
     "reconstruct {shear128} -o {out}/k.fits --method miu2net --option model={model_nan_weights}", "NaN"),
    ("model JSON out_channels 10^6",
     "reconstruct {shear128} -o {out}/k.fits --method miu2net --option model={model_huge}", "out_channels"),
]


def _case_id(case):
    return case.values[0] if hasattr(case, "values") else case[0]


@pytest.mark.parametrize(("name", "template", "expected"), CASES, ids=[_case_id(c) for c in CASES])
def test_bad_input_is_one_error_line_and_exit_2(files, tmp_path, name, template, expected):
    out = tmp_path / "out"
    out.mkdir()
    before = {p: p.stat().st_mtime_ns for p in files.values() if isinstance(p, type(out)) and p.is_file()}
    names = {k: str(v) for k, v in files.items()} | {"out": str(out), "shipped": str(MODELS_DIR)}
    import shlex

    argv = [part.format(**names) for part in shlex.split(template)]
    result = runner.invoke(app, argv)
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 2, f"{name}: exit {result.exit_code}, output:\n{result.output}{result.exception!r}"
    assert len(errors) == 1, f"{name}: expected one 'error:' line, got:\n{result.output}"
    assert expected in errors[0], f"{name}: {expected!r} not in {errors[0]!r}"
    assert "Traceback" not in result.output
    assert not list(out.rglob("*")), f"{name} left files behind: {list(out.rglob('*'))}"
    changed = [p for p, t in before.items() if p.stat().st_mtime_ns != t]
    assert not changed, f"{name} modified its inputs: {changed}"


def test_table_covers_every_command():
    commands = {shlex_first(_template(c)) for c in CASES}
    assert {"reconstruct", "project", "simulate", "evaluate", "show", "train", "calibrate", "models"} <= commands
    assert len(CASES) >= 40


def _template(case):
    return case.values[1] if hasattr(case, "values") else case[1]


def shlex_first(template: str) -> str:
    return template.split()[0]


def test_shipped_models_unchanged_by_the_table():
    """The calibrate cases pointed at the shipped model: its files must be byte-identical to git's."""
    import subprocess

    shipped = [str(p) for p in sorted(MODELS_DIR.glob("*")) if p.suffix in (".json", ".safetensors")]
    status = subprocess.run(["git", "diff", "HEAD", "--name-only", "--", *shipped], capture_output=True, text=True,
                            cwd=MODELS_DIR)
    if status.returncode != 0:
        pytest.skip("not a git checkout")
    assert status.stdout.strip() == "", f"shipped models changed: {status.stdout}"


# ---- accepted, but said: inputs that are changed on reading ------------------------------------------------


def test_negative_ra_is_wrapped_and_said(tmp_path):
    """RA in [-180, 180] (a field across RA = 0) reads as RA mod 360, the same map as in [0, 360]."""
    east = _catalogue(tmp_path / "east.fits", ra0=0.1, side_deg=0.3, n=3000)
    with fits.open(east) as hdul:
        ra = np.array(hdul[1].data["ra"])
    assert (ra < 0).any() and (ra > 0).any(), "the field straddles RA = 0"
    wrapped = tmp_path / "wrapped.fits"
    with fits.open(east) as hdul:
        hdul[1].data["ra"] = ra % 360.0
        hdul.writeto(wrapped)
    results = [runner.invoke(app, ["reconstruct", str(p), "-o", str(tmp_path / f"k{i}.fits"), "--method", "ks"])
               for i, p in enumerate((east, wrapped))]
    assert results[0].exit_code == 0, results[0].output
    n_negative = int((ra < 0).sum())
    assert f"{n_negative} negative RAs read as RA + 360" in results[0].output
    assert "negative RAs" not in results[1].output
    a, b = (fits.getdata(tmp_path / f"k{i}.fits", "KAPPA_E") for i in range(2))
    np.testing.assert_allclose(a, b, atol=1e-6, err_msg="RA -10 and RA 350 are the same sky")


def test_impossible_ellipticities_dropped_and_counted(tmp_path):
    path = _catalogue(tmp_path / "c.fits", first={"e1": [1.2, 0.9, -3.0], "e2": [0.0, 0.9, 0.0], "weight": [1, 1, 1, -1]})
    result = runner.invoke(app, ["reconstruct", str(path), "-o", str(tmp_path / "k.fits"), "--method", "ks"])
    assert result.exit_code == 0, result.output
    # rows 0, 1 (|e| = 1.27) and 2 have |e| >= 1; row 3 has a negative weight
    assert "3 rows with |e| >= 1 dropped" in result.output and "1 rows with weight < 0 dropped" in result.output
    assert "from 3996 galaxies" in result.output


def test_auto_names_the_size_and_pixel_that_would_fit(tmp_path):
    # 0.2 deg at 0.41': 29 pixels a side, below the smallest footprint the native model embeds (46).
    path = _catalogue(tmp_path / "c.fits", side_deg=0.2, n=4000)
    result = runner.invoke(app, ["reconstruct", str(path), "-o", str(tmp_path / "k.fits")])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "method auto: used wiener" in text and "--size 128" in text, text
    assert "allow_mismatch" not in text
    result = runner.invoke(app, ["reconstruct", str(path), "-o", str(tmp_path / "k2.fits"), "--pixel-arcmin", "0.5",
                                 "--size", "64"])
    text = " ".join(result.output.split())
    assert result.exit_code == 0 and "--pixel-arcmin 0.41" in text and "allow_mismatch" not in text, text


# ---- help text and tables at 80 columns ---------------------------------------------------------------------


@pytest.mark.parametrize("command", [["reconstruct"], ["project"], ["calibrate"], ["models", "export-onnx"]])
def test_help_keeps_square_brackets(command):
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "80", "TERMINAL_WIDTH": "80"})
    assert result.exit_code == 0
    text = re.sub(r"[│╭╮╰╯─\s]+", " ", result.output)
    expected = {"reconstruct": ["[MASK], [NOISE]", "[weight, m, c1, c2]", "RA [ra].", "[fit the footprint]",
                                "[measured from the catalogue]", "[0.41"],
                "project": ["[file box or extent]"], "calibrate": ["--out"],
                "models": ["[batch, 4, ny, nx]"]}[command[0]]
    for phrase in expected:
        assert phrase in text, f"help of {command} lost {phrase!r}:\n{result.output}"


def test_models_list_keeps_names_whole_at_80_columns():
    result = runner.invoke(app, ["models", "list"], env={"COLUMNS": "80", "TERMINAL_WIDTH": "80"})
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    assert "…" not in result.output
    for name in ("miu2net-csst-quick", "deepmass-csst-quick", "u2net_small", "u2net_full", "deepmass"):
        assert name in result.output, f"{name} cut:\n{result.output}"


# ---- the reconstruct figure ----------------------------------------------------------------------------------


def test_figure_snr_is_over_the_noise_only_sigma():
    """A peak whose total error is largest at the peak (as a network's is) must still be the S/N maximum."""
    from miu2net.plots import detection_snr

    y, x = np.mgrid[:32, :32]
    peak = 0.3 * np.exp(-((x - 16) ** 2 + (y - 16) ** 2) / 8.0)
    sigma_noise = np.full((32, 32), 0.02)
    snr = detection_snr(peak, sigma_noise)
    assert np.unravel_index(np.argmax(snr), snr.shape) == (16, 16) and snr[16, 16] == pytest.approx(15.0)
    assert detection_snr(peak, None) is None


def test_figure_has_radec_axes_labelled_colour_bars_and_marks_no_data(tmp_path):
    import matplotlib.pyplot as plt

    from miu2net import plots
    from miu2net.io import default_wcs
    from miu2net.maps import KappaMap

    rng = np.random.default_rng(0)
    kappa = KappaMap(kappa_e=0.02 * rng.standard_normal((48, 48)), kappa_b=0.02 * rng.standard_normal((48, 48)),
                     pixel_arcmin=0.82, sigma=np.full((48, 48), 0.03), sigma_noise=np.full((48, 48), 0.02),
                     wcs=default_wcs((48, 48), 0.82, center_deg=(150.0, 2.0)))
    mask = np.ones((48, 48))
    mask[:, :10] = 0
    figures = []
    real_save = plots._save_atomic
    plots._save_atomic = lambda fig, path, dpi=120: (figures.append(fig), real_save(fig, path, dpi))
    try:
        plots.plot_reconstruction(kappa, tmp_path / "k.png", mask=mask, title="test")
    finally:
        plots._save_atomic = real_save
    assert (tmp_path / "k.png").stat().st_size > 10_000
    fig = figures[0]
    maps = [ax for ax in fig.axes if hasattr(ax, "coords")]
    assert len(maps) == 4, "four map panels with WCS (RA/Dec) axes"
    assert {ax.coords[0].get_axislabel() for ax in maps} == {"RA"}
    bars = [ax for ax in fig.axes if not hasattr(ax, "coords")]
    labels = [ax.get_ylabel() for ax in bars]
    assert len(bars) == 4 and all(labels), f"every colour bar labelled: {labels}"
    hatched = [any(any(getattr(c, "hatches", None) or [None]) or c.get_hatch() for c in ax.collections) for ax in maps]
    assert all(hatched), f"unobserved pixels hatched in every panel: {hatched}"
    e_norm, b_norm = (ax.images[0].norm for ax in maps[:2])
    assert (e_norm.vmin, e_norm.vmax) == (b_norm.vmin, b_norm.vmax) and e_norm.vmin == -e_norm.vmax
    plt.close(fig)
