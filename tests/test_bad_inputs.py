"""Every command, given bad input, prints one ``error:`` line, exits with code 2 and leaves nothing behind.

One table of cases across reconstruct, project, simulate, evaluate, show, train, calibrate, models list
and export-onnx (issue 15). Each case runs on tiny files made once per module: a 32² gridded shear map,
a small catalogue, a fake particle file, copies of a shipped model. Every case writes only into its own
``out/`` folder, which must be empty afterwards. Beside the table: the inputs that are accepted but
changed (negative RA, impossible ellipticities), the advice of ``auto``, the help text and ``models list``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat

import numpy as np
import pytest
from astropy.io import fits
from catalogue_helpers import uniform_catalogue as _catalogue
from catalogue_helpers import uniform_columns as _columns
from cli_helpers import assert_refused as _refused
from typer.testing import CliRunner

from miu2net.cli import app
from miu2net.nn.checkpoint import MODELS_DIR
from miu2net.validate import package_folder

runner = CliRunner()


def _has_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


_HAS_GPU = _has_gpu()


def _edited(path, source, edit):
    """A copy of the FITS file ``source`` changed by ``edit(hdul)``."""
    with fits.open(source) as hdul:
        edit(hdul)
        hdul.writeto(path)
    return path


def _set(name, index, value):
    """An edit for :func:`_edited`: HDU ``name``'s pixels ``index`` set to ``value``."""
    def edit(hdul):
        hdul[name].data[index] = value
    return edit


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
             "ra_metres": _catalogue(d / "ra_metres.fits", units={"ra": "m", "dec": "m"}),
             "ra_furlongs": _catalogue(d / "ra_furlongs.fits", units={"ra": "furlongs", "dec": "deg"}),
             "mask_half": _edited(d / "mask_half.fits", d / "shear.fits", _set("MASK", (0, 0), 0.5)),
             "g_big": _edited(d / "g_big.fits", d / "shear.fits", _set("G1", (3, 3), 1.5)),
             "noise_tiny": _edited(d / "noise_tiny.fits", d / "shear.fits", _set("NOISE", slice(None), 1e-30)),
             "two_g1": _edited(d / "two_g1.fits", d / "shear.fits",
                               lambda hdul: hdul.append(fits.ImageHDU(np.zeros((n, n)), name="G1"))),
             "particles": d / "particles.npz", "folder": d / "a_folder", "store": d / "empty.zarr",
             "file": d / "existing.txt", "model_dir": d / "models"}
    np.savez(paths["particles"], pos=rng.uniform(0, 10, (100, 3)), mass=np.ones(100))
    paths["particles_text"] = d / "particles_text.npz"
    np.savez(paths["particles_text"], pos=rng.uniform(0, 10, (100, 3)).astype(str), mass=np.ones(100))
    paths["particles_negative"] = d / "particles_negative.npz"
    np.savez(paths["particles_negative"], pos=rng.uniform(0, 10, (100, 3)), mass=np.r_[np.ones(99), -1.0])
    paths["particles_massless"] = d / "particles_massless.npz"
    np.savez(paths["particles_massless"], pos=rng.uniform(0, 10, (100, 3)), mass=np.zeros(100))
    paths["bad_yaml"] = d / "bad.yaml"
    paths["bad_yaml"].write_text("train: [unclosed\n")
    paths["big_map_yaml"] = d / "big_map.yaml"
    paths["big_map_yaml"].write_text("survey:\n  map_size: 100000\n")
    paths["package_yaml"] = d / "train.yaml"
    paths["package_yaml"].write_text(f"train:\n  out: {package_folder() / 'run'}\n")
    _duplicates_and_text(d, paths)
    paths["folder"].mkdir()
    paths["store"].mkdir()
    paths["file"].write_text("not a folder")
    paths["model_dir"].mkdir()
    _model_copies(paths["model_dir"], paths)
    _model_shear(d / "shear128.fits", rng)
    paths["shear128"] = d / "shear128.fits"
    _damaged_stores(d, paths)
    return paths


def _damaged_stores(d, paths):
    """Copies of a small store (32² maps at the shipped model's 0.82'), each damaged one way: a split
    removed, the kappa arrays removed, sample 0's kappa chunk deleted or overwritten with junk (its
    ``done`` flag still set)."""
    from miu2net.config import preset
    from miu2net.sims.dataset import create_dataset

    good = d / "good.zarr"
    config = preset("csst-small").updated(survey={"map_size": 32, "pixel_arcmin": 0.82},
                                          sim={"n_samples": 6, "n_test": 1})
    create_dataset(good, config, scheduler="sync", progress=False)
    splits = ("train", "val", "test")
    damage = {"nosplit": lambda s: shutil.rmtree(s / "test"),
              "nokappa": lambda s: [shutil.rmtree(s / split / "kappa") for split in splits],
              "lostchunk": lambda s: [(s / split / "kappa" / "c" / "0" / "0" / "0").unlink() for split in splits],
              "corrupt": lambda s: [(s / split / "kappa" / "c" / "0" / "0" / "0").write_bytes(b"not zstd data")
                                    for split in splits]}
    for name, edit in damage.items():
        shutil.copytree(good, d / f"{name}.zarr")
        edit(d / f"{name}.zarr")
        paths[f"store_{name}"] = d / f"{name}.zarr"
    paths["store_good"] = good


def _duplicates_and_text(d, paths):
    """Catalogues with a column name twice (CSV, FITS, Parquet) and with a text column for e2."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = _columns(500)
    rows = ["ra,dec,e1,e1"] + [f"{a},{b},{c},{e}" for a, b, c, e in zip(cols["ra"], cols["dec"], cols["e1"], cols["e2"])]
    (d / "dup.csv").write_text("\n".join(rows) + "\n")
    rows = ["ra,dec,e1,e2"] + [f"{a},{b},{c},abc" for a, b, c in zip(cols["ra"], cols["dec"], cols["e1"])]
    (d / "text_e2.csv").write_text("\n".join(rows) + "\n")
    raw = _catalogue(d / "dup_source.fits", n=500).read_bytes()
    assert raw.count(b"TTYPE4  = 'e2      '") == 1
    (d / "dup.fits").write_bytes(raw.replace(b"TTYPE4  = 'e2      '", b"TTYPE4  = 'e1      '"))
    pq.write_table(pa.table([cols["ra"], cols["dec"], cols["e1"], cols["e2"]], names=["ra", "dec", "e1", "e1"]),
                   d / "dup.parquet")
    paths.update({"dup_csv": d / "dup.csv", "dup_fits": d / "dup.fits", "dup_parquet": d / "dup.parquet",
                  "text_e2": d / "text_e2.csv"})


def _model_copies(folder, paths):
    """Copies of the shipped model: intact, with a non-numeric pixel, with NaN weights, with 10⁶ output channels,
    with a tensor whose shape is not the one its JSON describes."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    src = MODELS_DIR / "miu2net-csst-quick"
    for name in ("copy", "pixel_x", "nan_weights", "huge", "shapes"):
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
    with safe_open(folder / "shapes.safetensors", framework="pt") as f:
        metadata = f.metadata()  # the config repeated in the header still matches the JSON
    state = load_file(folder / "shapes.safetensors")
    name = next(k for k, v in state.items() if v.is_floating_point() and v.ndim == 4)
    state[name] = state[name].repeat(2, 1, 1, 1)  # twice the output channels
    save_file(state, folder / "shapes.safetensors", metadata=metadata)


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
    ("--png not .png", "reconstruct {shear} -o {out}/k.fits --png {out}/k.jpg --method ks", "expected a .png"),
    ("reconstruct --seed -1", "reconstruct {shear} -o {out}/k.fits --method ks --noise-realisations 2 --seed -1",
     "--seed must be a whole number in [0, "),
    ("reconstruct -o into the package", "reconstruct {shear} -o {package}/k.fits --method ks", "the miu2net package"),
    # reconstruct: inputs
    ("missing input", "reconstruct {out}/nothing.fits -o {out}/k.fits", "no such file"),
    ("input is a folder", "reconstruct {folder} -o {out}/k.fits", "is a directory"),
    ("truncated FITS", "reconstruct {truncated} -o {out}/k.fits --method ks", "truncated"),
    ("MASK 0.5", "reconstruct {mask_half} -o {out}/k.fits --method ks", "MASK must hold only 1 (observed) and 0"),
    ("|g| >= 1 observed", "reconstruct {g_big} -o {out}/k.fits --method ks", "reduced shear must be < 1"),
    ("NOISE 1e-30", "reconstruct {noise_tiny} -o {out}/k.fits --method ks", "NOISE holds 1e-30"),
    ("two G1 HDUs", "reconstruct {two_g1} -o {out}/k.fits --method ks", "2 HDUs named G1"),
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
    ("--e2-col e1", "reconstruct {cat} -o {out}/k.fits --e2-col e1", "the column 'e1' is given for e1 and e2"),
    ("--weight-col dec", "reconstruct {cat} -o {out}/k.fits --weight-col dec", "is given for dec and weight"),
    ("CSV column name twice", "reconstruct {dup_csv} -o {out}/k.fits", "'e1' appear more than once"),
    ("FITS column name twice", "reconstruct {dup_fits} -o {out}/k.fits", "'e1' appear more than once"),
    ("Parquet column name twice", "reconstruct {dup_parquet} -o {out}/k.fits", "'e1' appear more than once"),
    ("text column", "reconstruct {text_e2} -o {out}/k.fits", "column 'e2' (e2) is not numeric"),
    ("ra TUNIT m", "reconstruct {ra_metres} -o {out}/k.fits", "unit 'm' (a length, not an angle)"),
    ("ra TUNIT unknown", "reconstruct {ra_furlongs} -o {out}/k.fits", "unit 'furlongs' (a unit astropy does not know)"),
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
    ("project --compare-png not .png",
     "project {particles} --z-lens 0.3 --z-source 1 -o {out}/k.fits --compare-png {out}/c.jpg", "expected a .png"),
    ("project --seed -1", "project {particles} --z-lens 0.3 --z-source 1 -o {out}/k.fits --seed -1", "--seed must be"),
    # simulate
    ("simulate --n 0 --n-test 0", "simulate --out {out}/s.zarr --preset csst-small --n 0 --n-test 0", "empty store"),
    ("simulate --out onto a file", "simulate --out {file} --n 2", "is an existing file"),
    ("simulate --n -1", "simulate --out {out}/s.zarr --n -1", "--n must be >= 0"),
    ("simulate --batch-size 0", "simulate --out {out}/s.zarr --batch-size 0", "--batch-size must be >= 1"),
    ("simulate unknown preset", "simulate --out {out}/s.zarr --preset nosuch", "unknown preset"),
    ("simulate --kappa-pixel-arcmin nan", "simulate --out {out}/s.zarr --kappa-from {folder} --kappa-pixel-arcmin nan",
     "--kappa-pixel-arcmin must be a finite"),
    ("simulate missing --config", "simulate --out {out}/s.zarr --config {out}/none.yaml", "no such configuration file"),
    ("simulate --seed -1", "simulate --out {out}/s.zarr --seed -1", "--seed must be"),
    ("simulate --out into the package", "simulate --out {package}/s.zarr --n 2", "the miu2net package"),
    # evaluate
    ("evaluate --out onto a file", "evaluate --data {store} --out {file}", "is an existing file"),
    ("evaluate missing --data", "evaluate --data {out}/none.zarr --out {out}/report", "no such dataset"),
    ("evaluate --n 0", "evaluate --data {store} --out {out}/report --n 0", "--n must be >= 1"),
    ("evaluate --out inside the store", "evaluate --data {store} --out {store}/report", "lies inside the input"),
    ("evaluate --out into the package", "evaluate --data {store} --out {package}/report", "the miu2net package"),
    # show
    ("show missing store", "show {out}/none.zarr -o {out}/s.png", "no such dataset"),
    ("show -o into a missing folder", "show {store} -o {out}/no/s.png", "does not exist"),
    ("show -o onto a folder", "show {store} -o {folder}", "is an existing directory"),
    ("show unknown split", "show {store} --split nosuch -o {out}/s.png", "--split must be"),
    ("show -o not .png", "show {store} -o {out}/s.jpg", "expected a .png"),
    # train
    ("train --out onto a file", "train --data {store} --out {file}", "is an existing file"),
    ("train missing --data", "train --data {out}/none.zarr --out {out}/run", "no such file"),
    ("train --lr nan", "train --data {store} --out {out}/run --lr nan", "--lr must be a finite"),
    ("train --epochs 0", "train --data {store} --out {out}/run --epochs 0", "epochs"),
    ("train bad --n-gal-range", "train --data {store} --out {out}/run --stream --n-gal-range 5,abc", "MIN,MAX"),
    ("train --n-gal-range reversed", "train --data {store} --out {out}/run --stream --n-gal-range 50,5", "MIN <= MAX"),
    ("train --seed -1", "train --data {store} --out {out}/run --seed -1", "--seed must be"),
    ("train --out the shipped models", "train --data {store} --out {shipped}", "shipped models' folder"),
    ("train --out into the package", "train --data {store} --out {package}/run", "the miu2net package"),
    ("train --config's out into the package", "train --data {store} --config {package_yaml}", "the miu2net package"),
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
    ("calibrate --out into the package", "calibrate --model {model_copy} --stream --out {package}/cal",
     "the miu2net package"),
    ("calibrate --out onto another model", "calibrate --model {model_copy} --stream --out {model_huge}",
     "already exist; give a new name"),
    ("calibrate --out onto another model's JSON", "calibrate --model {model_copy} --stream --out {model_huge}.json",
     "already exist; give a new name"),
    ("calibrate --seed -1", "calibrate --model {model_copy} --stream --seed -1 --out {out}/cal", "--seed must be"),
    # models
    ("models list missing --directory", "models list --directory {out}/none", "no such folder"),
    ("export-onnx -o into a missing folder", "models export-onnx {model_copy} -o {out}/no/m.onnx", "does not exist"),
    ("export-onnx -o into the package", "models export-onnx {model_copy} -o {package}/m.onnx", "the miu2net package"),
    # model files (issue 14 validates the model card; the CLI already reports InputError as one line)
    ("model JSON pixel_arcmin 'x'",
     "reconstruct {shear128} -o {out}/k.fits --method miu2net --option model={model_pixel_x}", "pixel_arcmin"),
    ("model with NaN weights",
     "reconstruct {shear128} -o {out}/k.fits --method miu2net --option model={model_nan_weights}", "NaN"),
    ("model JSON out_channels 10^6",
     "reconstruct {shear128} -o {out}/k.fits --method miu2net --option model={model_huge}", "out_channels"),
    ("model tensor shapes not its JSON's",
     "reconstruct {shear128} -o {out}/k.fits --method miu2net --option model={model_shapes}",
     "tensor shape(s) do not match"),
    # typer/click's own usage errors: one line too, not a boxed panel
    ("--size not a whole number", "reconstruct {cat} -o {out}/k.fits --size 12.5", "Invalid value for '--size'"),
    ("--noise-realisations 1e9", "reconstruct {shear} -o {out}/k.fits --method ks --noise-realisations 1e9",
     "Invalid value for '--noise-realisations'"),
    ("unknown command", "nosuchcommand {shear}", "No such command 'nosuchcommand'"),
    ("unknown models command", "models nosuch", "No such command 'nosuch'"),
    ("missing required -o", "reconstruct {shear} --method ks", "Missing option '--output'"),
    ("unknown option", "reconstruct {shear} -o {out}/k.fits --no-such-option", "No such option"),
    # sizes that would allocate without bound
    ("--smooth 1e12", "reconstruct {shear} -o {out}/k.fits --method ks --smooth 1e12",
     "wider than the whole map (32 pixels of 0.5' = 16'): it would smooth the map to its mean; give at most 16"),
    ("--option smooth_arcmin=1e12", "reconstruct {shear} -o {out}/k.fits --method ks --option smooth_arcmin=1e12",
     "give at most 16 arcmin"),
    ("--option pad_pixels=1000000", "reconstruct {shear} -o {out}/k.fits --method wiener --option pad_pixels=1000000",
     "give at most pad_pixels="),
    ("--noise-realisations 10^9", "reconstruct {shear} -o {out}/k.fits --method ks --noise-realisations 1000000000",
     "--noise-realisations must lie in [0, 10000]"),
    ("simulate map_size beyond memory", "simulate --out {out}/s.zarr --preset csst-small --config {big_map_yaml} --n 2",
     "give at most map_size"),
    ("simulate unreachable scheduler",
     "simulate --out {out}/s.zarr --preset csst-small --n 2 --scheduler tcp://127.0.0.1:1", "cannot reach"),
    # particles
    ("project positions as text", "project {particles_text} --z-lens 0.3 --z-source 1 -o {out}/k.fits",
     "positions are text"),
    ("project negative masses", "project {particles_negative} --z-lens 0.3 --z-source 1 -o {out}/k.fits",
     "1 particle(s) have negative masses"),
    ("project --compare-methods a method that cannot run here",
     ("project {particles} --z-lens 0.3 --z-source 1 -o {out}/k.fits --compare-png {out}/c.png --npix 64 "
      "--compare-methods ks,miu2net"), "miu2net cannot run here"),
    ("project --compare-methods ks,foo",
     "project {particles} --z-lens 0.3 --z-source 1 -o {out}/k.fits --compare-png {out}/c.png --compare-methods ks,foo",
     "unknown method(s) 'foo'"),
    # damaged data stores: never read as zeros
    ("evaluate store without its test split", "evaluate --data {store_nosplit} --out {out}/report --methods ks",
     "has no split 'test'"),
    ("evaluate store without kappa", "evaluate --data {store_nokappa} --out {out}/report --methods ks",
     "split test has no kappa array"),
    ("evaluate store with a lost chunk", "evaluate --data {store_lostchunk} --out {out}/report --methods ks",
     "the kappa map of sample 0"),
    ("evaluate store with a corrupt chunk", "evaluate --data {store_corrupt} --out {out}/report --methods ks",
     "the kappa map of sample 0 of split test cannot be read"),
    ("show store without its split", "show {store_nosplit} --split test -o {out}/s.png", "has no split 'test'"),
    ("show store without kappa", "show {store_nokappa} -o {out}/s.png", "split train has no kappa array"),
    ("show store with a lost chunk", "show {store_lostchunk} -o {out}/s.png",
     "sample 0 of split train is marked finished but its kappa map(s) are missing"),
    ("show store with a corrupt chunk", "show {store_corrupt} -o {out}/s.png",
     "the kappa map of sample 0 of split train cannot be read"),
    ("train store without a split", "train --data {store_nosplit} --out {out}/run", "has no split 'test'"),
    ("train store without kappa", "train --data {store_nokappa} --out {out}/run", "has no kappa array"),
    ("train store with a lost chunk", "train --data {store_lostchunk} --out {out}/run",
     "split train: 1 chunk(s) of finished samples are missing"),
    ("calibrate store without a split", "calibrate --model {model_copy} --data {store_nosplit} --out {out}/cal",
     "has no split 'test'"),
    ("calibrate store with a lost chunk", "calibrate --model {model_copy} --data {store_lostchunk} --out {out}/cal",
     "chunk(s) of finished samples are missing"),
    ("calibrate store with a corrupt chunk", "calibrate --model {model_copy} --data {store_corrupt} --out {out}/cal",
     "the kappa map of sample 0 of split val cannot be read"),
    # train's devices, before any work
    ("train --devices abc", "train --data {store_good} --out {out}/run --devices abc", "--devices takes auto"),
    ("train --devices 0", "train --data {store_good} --out {out}/run --devices 0", "--devices takes auto"),
    ("train --accelerator nosuch", "train --data {store_good} --out {out}/run --accelerator nosuch",
     "--accelerator must be one of"),
    ("train --strategy nosuch", "train --data {store_good} --out {out}/run --strategy nosuch",
     "--strategy must be one of auto, ddp"),
    pytest.param("train --devices -1 without a GPU", "train --data {store_good} --out {out}/run --devices -1",
                 "--devices -1 means all GPUs", marks=pytest.mark.skipif(_HAS_GPU, reason="this machine has a GPU")),
    # issue 24's audit (benchmarks/hostile_inputs.py)
    ("reconstruct -o not a FITS name", "reconstruct {shear} -o {out}/k.png --method ks", "expected a .fits or .fit"),
    ("project -o not a FITS name", "project {particles} --z-lens 0.3 --z-source 1 -o {out}/k.jpg",
     "expected a .fits or .fit"),
    ("project every mass 0", "project {particles_massless} --z-lens 0.3 --z-source 1 -o {out}/k.fits",
     "every particle has mass 0"),
    ("project --origin nan", "project {particles} --z-lens 0.3 --z-source 1 -o {out}/k.fits --origin nan,0,0",
     "three finite numbers"),
    ("project region without particles", "project {particles} --z-lens 0.3 --z-source 1 -o {out}/k.fits --box 1e-30",
     "no particle mass falls in the projected region"),
    ("project --z-source beyond the distance tables",
     "project {particles} --z-lens 0.3 --z-source 1e6 -o {out}/k.fits", "--z-source must lie in (0, 9998]"),
    ("project --n-gal 1e12", "project {particles} --z-lens 0.3 --z-source 1 -o {out}/k.fits --compare-png "
     "{out}/c.png --n-gal 1e12", "--n-gal must lie in (0, 10000]"),
    ("train --config not YAML", "train --data {store_good} --out {out}/run --config {bad_yaml}",
     "cannot read the configuration"),
    pytest.param("train --accelerator gpu without a GPU", "train --data {store_good} --out {out}/run --accelerator gpu",
                 "has no CUDA GPU", marks=pytest.mark.skipif(_HAS_GPU, reason="this machine has a GPU")),
]


def _case_id(case):
    return case.values[0] if hasattr(case, "values") else case[0]


@pytest.mark.parametrize(("name", "template", "expected"), CASES, ids=[_case_id(c) for c in CASES])
def test_bad_input_is_one_error_line_and_exit_2(files, tmp_path, name, template, expected):
    out = tmp_path / "out"
    out.mkdir()
    inputs = [p for p in files.values() if isinstance(p, type(out)) and p.is_file()]
    before = {p: p.stat().st_mtime_ns for p in [*inputs, *files["model_dir"].iterdir()]}
    package = sorted(package_folder().iterdir())
    names = {k: str(v) for k, v in files.items()} | {"out": str(out), "shipped": str(MODELS_DIR),
                                                     "package": str(package_folder())}
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
    assert sorted(package_folder().iterdir()) == package, f"{name} wrote into the package folder"


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


# ---- outputs that are not regular files ---------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["-o", "--png"])
def test_output_onto_a_fifo_is_refused_and_left_a_fifo(files, tmp_path, flag):
    """The atomic rename would replace a FIFO (or /dev/null) by a regular file: refused before any work."""
    fifo = tmp_path / ("pipe.fits" if flag == "-o" else "pipe.png")
    os.mkfifo(fifo)
    outputs = ["-o", str(fifo)] if flag == "-o" else ["-o", str(tmp_path / "k.fits"), "--png", str(fifo)]
    result = runner.invoke(app, ["reconstruct", str(files["shear"]), "--method", "ks", *outputs])
    _refused(result, f"{flag} {fifo} exists and is not a regular file")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode), "the FIFO is still a FIFO"
    assert [p.name for p in tmp_path.iterdir()] == [fifo.name], "nothing written beside it"


def test_calibrate_onto_an_existing_stem_leaves_it_unchanged(files, tmp_path):
    """Either file of a model stem (NAME.safetensors or NAME.json) already there: refused, both left as they were."""
    for keep in (".json", ".safetensors"):
        stem = tmp_path / f"mine{keep.replace('.', '_')}"
        stem.with_suffix(keep).write_text("mine")
        result = runner.invoke(app, ["calibrate", "--model", str(files["model_copy"]), "--stream", "--n", "2",
                                     "--out", str(stem)])
        _refused(result, "already exist")
        assert stem.with_suffix(keep).read_text() == "mine"
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(stem.name)) == [stem.name + keep]


def test_gridded_npz_with_a_map_twice_is_refused(tmp_path):
    """.npz names are read case-insensitively: g1 and G1 together are the same map twice."""
    maps = {"G1": np.zeros((16, 16)), "g1": np.zeros((16, 16)), "G2": np.zeros((16, 16)), "PIXSCALE": 0.5}
    np.savez(tmp_path / "s.npz", **maps)
    result = runner.invoke(app, ["reconstruct", str(tmp_path / "s.npz"), "-o", str(tmp_path / "k.fits"), "--method", "ks"])
    _refused(result, "2 arrays named G1")
    assert not (tmp_path / "k.fits").exists()


# ---- accepted, but said: inputs that are changed on reading ------------------------------------------------


def test_empty_and_text_csv_cells_are_missing_values_dropped_and_counted(tmp_path):
    """Empty cells were read as 0.0 (a galaxy at RA 0, or e1 = 0 counted as data); they are missing values."""
    n = 6000  # rows 0-4: empty RA; rows 5-1004: empty e1; rows 1005-1011: e2 'abc'
    path = _catalogue(tmp_path / "c.csv", n=n, first={"ra": [np.nan] * 5, "e1": np.r_[[0.1] * 5, [np.nan] * 1000]})
    lines = path.read_text().splitlines()
    lines[1006:1013] = [",".join([*row.split(",")[:3], "abc", *row.split(",")[4:]]) for row in lines[1006:1013]]
    path.write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["reconstruct", str(path), "-o", str(tmp_path / "k.fits"), "--method", "ks"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert f"from {n - 1012} galaxies (1012 rows with missing/NaN/inf values dropped)" in text, text
    from miu2net.survey import read_catalogue

    cat = read_catalogue(path)
    assert len(cat) == n - 1012 and cat.meta["n_dropped_nonfinite"] == 1012
    assert cat.ra.min() > 149.0, "no galaxy put at RA 0"


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
    # Both symmetric; κ_B (a trained model's raw KS null test) on its own scale: on κ_E's it read as B ≫ E.
    assert e_norm.vmin == -e_norm.vmax and b_norm.vmin == -b_norm.vmax
    b_values = np.abs(plots._smooth(kappa.kappa_b, plots.FIGURE_SMOOTH_PIXELS)[mask > 0])
    assert b_norm.vmax == pytest.approx(np.percentile(b_values, 99.5), rel=1e-6)
    plt.close(fig)


# ---- usage errors keep the help working; Ctrl-C; what a failed simulate leaves -----------------------------


@pytest.mark.parametrize("command", [[], ["reconstruct"], ["project"], ["evaluate"], ["simulate"], ["show"],
                                     ["train"], ["calibrate"], ["models"], ["models", "list"],
                                     ["models", "export-onnx"]])
def test_help_still_exits_0(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output and "error:" not in result.output


def _interrupted(result, expected):
    """Ctrl-C's form: exit code 130, one ``error:`` line holding ``expected``, no traceback."""
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 130, f"exit {result.exit_code}, output:\n{result.output}{result.exception!r}"
    assert len(errors) == 1 and "interrupted (Ctrl-C)" in errors[0] and expected in errors[0], result.output
    assert "Traceback" not in result.output


def _raise_keyboard_interrupt(*args, **kwargs):
    raise KeyboardInterrupt


def test_ctrl_c_in_reconstruct_exits_130_and_leaves_no_file(files, tmp_path, monkeypatch):
    """Interrupted while drawing the figure, after the FITS was written: the new FITS is removed too."""
    import miu2net.plots

    monkeypatch.setattr(miu2net.plots, "plot_reconstruction", _raise_keyboard_interrupt)
    result = runner.invoke(app, ["reconstruct", str(files["shear"]), "-o", str(tmp_path / "k.fits"),
                                 "--png", str(tmp_path / "k.png"), "--method", "ks"])
    _interrupted(result, "nothing was written")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("lightning", [False, True], ids=["KeyboardInterrupt", "Lightning's sys.exit(1)"])
def test_ctrl_c_in_train_exits_130(files, tmp_path, monkeypatch, lightning):
    """Lightning catches Ctrl-C itself and calls sys.exit(1); either way one line and exit code 130."""
    import sys

    import miu2net.nn.module

    def fit(config):
        if not lightning:
            raise KeyboardInterrupt
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            sys.exit(1)

    monkeypatch.setattr(miu2net.nn.module, "fit", fit)
    result = runner.invoke(app, ["train", "--data", str(files["store_good"]), "--out", str(tmp_path / "run")])
    _interrupted(result, "no checkpoint was written yet")
    assert not (tmp_path / "run").exists()


def test_ctrl_c_in_simulate_removes_a_store_with_no_sample(tmp_path, monkeypatch):
    from miu2net.sims import dataset

    monkeypatch.setattr(dataset, "_run", _raise_keyboard_interrupt)
    result = runner.invoke(app, ["simulate", "--out", str(tmp_path / "new" / "s.zarr"), "--preset", "csst-small",
                                 "--n", "2", "--n-test", "0", "--scheduler", "sync"])
    _interrupted(result, "nothing was written")
    assert not list(tmp_path.iterdir()), "neither the store nor the folder made for it is left"


def test_ctrl_c_in_simulate_keeps_finished_samples_to_resume(tmp_path, monkeypatch):
    from miu2net.sims import dataset

    def one_then_interrupt(todo, args, **kwargs):
        dataset.generate_items(*args, todo[:1])
        raise KeyboardInterrupt

    monkeypatch.setattr(dataset, "_run", one_then_interrupt)
    out = tmp_path / "s.zarr"
    argv = ["simulate", "--out", str(out), "--preset", "csst-small", "--n", "2", "--n-test", "0",
            "--scheduler", "sync"]
    _interrupted(runner.invoke(app, argv), "rerun the same command to resume")
    assert dataset.completion(out)["train"][0] == 1


def test_a_failed_simulate_leaves_an_empty_out_folder_empty(tmp_path, monkeypatch):
    """The scheduler gone between the check and the run: the store laid out in the user's empty folder is removed."""
    from miu2net.errors import InputError
    from miu2net.sims import dataset

    def unreachable(*args, **kwargs):
        raise InputError("cannot connect to the Dask scheduler at 'tcp://127.0.0.1:1'")

    monkeypatch.setattr(dataset, "_run", unreachable)
    out = tmp_path / "s.zarr"
    out.mkdir()
    result = runner.invoke(app, ["simulate", "--out", str(out), "--preset", "csst-small", "--n", "2", "--n-test",
                                 "0", "--scheduler", "sync"])
    _refused(result, "cannot connect to the Dask scheduler")
    assert out.is_dir() and not list(out.iterdir())


def test_ctrl_c_while_evaluate_writes_its_report_leaves_no_report(files, tmp_path, monkeypatch):
    import miu2net.plots

    monkeypatch.setattr(miu2net.plots, "plot_peaks", _raise_keyboard_interrupt)  # the last of the report's files
    report = tmp_path / "new" / "report"
    result = runner.invoke(app, ["evaluate", "--data", str(files["store_good"]), "--out", str(report),
                                 "--methods", "ks", "--n", "1"])
    _interrupted(result, "nothing was written")
    assert not list(tmp_path.iterdir()), "neither the report's files nor the folders made for them are left"


def test_calibrate_cut_short_leaves_no_half_model(files, tmp_path, monkeypatch):
    """Interrupted between the calibrated copy's weights and its card: neither file is left."""
    import miu2net.io.files

    real = miu2net.io.files.atomic_write

    def interrupted_at_the_card(path, write, **kwargs):
        if str(path).endswith(".json"):
            raise KeyboardInterrupt
        return real(path, write, **kwargs)

    monkeypatch.setattr(miu2net.io.files, "atomic_write", interrupted_at_the_card)
    sim = tmp_path / "sim.yaml"
    sim.write_text("preset: csst-small\n")  # the shipped quick model's survey: 128² of 0.82'
    result = runner.invoke(app, ["calibrate", "--model", str(files["model_copy"]), "--stream", "--n", "2",
                                 "--sim-config", str(sim), "--out", str(tmp_path / "cal")])
    _interrupted(result, "nothing was written")
    assert [p.name for p in tmp_path.iterdir()] == ["sim.yaml"]


# ---- issue 24's audit (benchmarks/hostile_inputs.py): what it found -------------------------------------------


def test_an_error_message_of_several_lines_is_printed_as_one(files, tmp_path):
    """A YAML parser's message spans lines (with a caret under the column): still one line on stderr."""
    result = runner.invoke(app, ["train", "--data", str(files["store_good"]), "--out", str(tmp_path / "run"),
                                 "--config", str(files["bad_yaml"])])
    _refused(result, "cannot read the configuration")
    assert len([line for line in result.output.splitlines() if line.strip()]) == 1, result.output
    assert not list(tmp_path.iterdir())


def test_out_of_memory_past_the_checks_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    """The size checks use the physical memory; a ulimit or other jobs leave less: MemoryError is one line too."""
    from miu2net.sims import dataset

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(dataset, "_run", no_memory)
    result = runner.invoke(app, ["simulate", "--out", str(tmp_path / "s.zarr"), "--preset", "csst-small", "--n", "2",
                                 "--n-test", "0", "--scheduler", "sync"])
    _refused(result, "out of memory")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(("name", "maps", "expected"), [
    ("text G1", {"G1": np.full((16, 16), "a"), "G2": np.zeros((16, 16))}, "G1 hold <U1 values, not numbers"),
    ("4x4 maps", {"G1": np.zeros((4, 4)), "G2": np.zeros((4, 4))}, "a reconstruction needs at least 8 x 8"),
], ids=["text G1", "4x4 maps"])
def test_gridded_npz_not_a_map_is_refused(tmp_path, name, maps, expected):
    np.savez(tmp_path / "s.npz", PIXSCALE=0.5, **maps)
    result = runner.invoke(app, ["reconstruct", str(tmp_path / "s.npz"), "-o", str(tmp_path / "k.fits"), "--method", "ks"])
    _refused(result, expected)
    assert not (tmp_path / "k.fits").exists()


def test_nan_in_mask_is_read_as_masked_and_said(files, tmp_path):
    path = _edited(tmp_path / "mask_nan.fits", files["shear"], _set("MASK", (0, slice(None)), np.nan))
    result = runner.invoke(app, ["reconstruct", str(path), "-o", str(tmp_path / "k.fits"), "--method", "ks"])
    assert result.exit_code == 0, result.output
    assert "32 MASK pixel(s) holding NaN or inf read as masked" in " ".join(result.output.split())


def test_input_that_is_a_fifo_is_refused_not_read(tmp_path):
    """Reading a FIFO blocks until a writer comes: refused before any read."""
    fifo = tmp_path / "in.fits"
    os.mkfifo(fifo)
    result = runner.invoke(app, ["reconstruct", str(fifo), "-o", str(tmp_path / "k.fits"), "--method", "ks"])
    _refused(result, "is not a regular file")
    assert [p.name for p in tmp_path.iterdir()] == ["in.fits"]


def test_show_negative_index_names_the_sample_it_drew(files, tmp_path):
    result = runner.invoke(app, ["show", str(files["store_good"]), "--index", "-1", "-o", str(tmp_path / "s.png")])
    assert result.exit_code == 0, result.output
    assert "(sample 4 of split train)" in result.output  # the store's 5 training samples: -1 is the last


def test_evaluate_more_maps_than_the_split_holds_says_so(files, tmp_path):
    result = runner.invoke(app, ["evaluate", "--data", str(files["store_good"]), "--out", str(tmp_path / "report"),
                                 "--methods", "ks", "--n", "1000000000"])
    assert result.exit_code == 0, result.output
    assert "--n 1000000000: split test holds 1 map(s); evaluated all 1" in " ".join(result.output.split())
