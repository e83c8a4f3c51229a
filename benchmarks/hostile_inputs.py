"""Issue 24's audit: hostile inputs to every command, each run as ``python -m miu2net ...`` in its own folder.

Usage (the results in ``benchmarks/results/hostile_inputs.{json,md}`` came from)::

    nice python benchmarks/hostile_inputs.py

The script builds its own inputs in a temporary folder (gridded shear FITS of 64² at 0.82', catalogues in
FITS and CSV, particle files, model copies, a tiny Zarr store made by ``miu2net simulate`` and damaged
copies of it), then runs every case sequentially in a fresh working folder with a 60 s timeout and the
address space capped (``ulimit -v 8000000``). Per case it records the exit code, whether a traceback was
printed, whether the last stderr line starts with ``error:`` and how many lines the error took, the files
created/changed/removed (case folder, inputs, the package's folder, special files such as /dev/null
and FIFOs) and the time, and classifies the case:

* ``refuse``: the promised refusal: exit 2, exactly one ``error:`` line (the last of stderr, one line
  long), no traceback, nothing written or changed anywhere.
* ``ok``: a valid but unusual input: exit 0, no traceback, and the output says what was done (a
  substring that must appear), plus an optional check of the result.
* ``either``: a refusal as above, or exit 0 with the result checked (e.g. ``-o /dev/null`` written through).
* ``sigint``: SIGINT after a few seconds: exit 130, one ``error:`` line, no traceback, nothing partial.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from astropy.io import fits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from catalogue_helpers import uniform_catalogue, uniform_columns

MEMORY_CAP_KB = 8_000_000
TIMEOUT = 60
PKG = ROOT / "src" / "miu2net"
MODELS = PKG / "models"
EXAMPLE = ROOT / "examples" / "merging_pair_catalogue.fits"


# ---- inputs --------------------------------------------------------------------------------------------------


def _shear(path, n=64, pixscale=0.82, edit=None, header=None, ny=None):
    rng = np.random.default_rng(24)
    ny = ny or n
    maps = {"G1": 0.05 * rng.standard_normal((ny, n)), "G2": 0.05 * rng.standard_normal((ny, n)),
            "MASK": np.ones((ny, n)), "NOISE": np.full((ny, n), 0.05)}
    if edit:
        edit(maps)
    hdus = [fits.PrimaryHDU()]
    if pixscale is not None:
        hdus[0].header["PIXSCALE"] = pixscale
    for k, v in (header or {}).items():
        hdus[0].header[k] = v
    for name, data in maps.items():
        if isinstance(data, list):  # several HDUs of one name
            hdus += [fits.ImageHDU(d, name=name) for d in data]
        elif data is not None:
            hdus.append(fits.ImageHDU(data, name=name))
    fits.HDUList(hdus).writeto(path)
    return path


def _set(name, index, value):
    def edit(maps):
        maps[name][index] = value
    return edit


def _csv(path, cols, edit_rows=None):
    names = list(cols)
    rows = [[f"{v:.8g}" for v in row] for row in zip(*cols.values())]
    if edit_rows:
        edit_rows(names, rows)
    path.write_text("\n".join([",".join(names)] + [",".join(r) for r in rows]) + "\n")
    return path


def _fits_table(path, cols, units=None):
    fits.BinTableHDU.from_columns([fits.Column(name=k, format="D", array=np.asarray(v, float),
                                               unit=(units or {}).get(k)) for k, v in cols.items()]).writeto(path)
    return path


def make_inputs(d: Path, env: dict) -> None:
    """Every file the cases read, in ``d``."""
    rng = np.random.default_rng(24)
    _shear(d / "shear.fits")
    _shear(d / "shear128.fits", n=128)
    raw = (d / "shear.fits").read_bytes()
    (d / "truncated.fits").write_bytes(raw[: len(raw) - 9000])
    (d / "empty.fits").write_bytes(b"")
    (d / "text.fits").write_text("this is not a FITS file\n")
    _shear(d / "mask_half.fits", edit=_set("MASK", (0, 0), 0.5))
    _shear(d / "mask_two.fits", edit=_set("MASK", (0, 0), 2.0))
    _shear(d / "mask_nan.fits", edit=_set("MASK", (0, 0), np.nan))
    _shear(d / "mask_zero.fits", edit=_set("MASK", slice(None), 0.0))
    _shear(d / "g_big.fits", edit=_set("G1", (3, 3), 1.5))
    _shear(d / "g_one.fits", edit=lambda m: (m["G1"].__setitem__((3, 3), 1.0), m["G2"].__setitem__((3, 3), 0.0)))
    _shear(d / "g_nan.fits", edit=_set("G1", (3, 3), np.nan))
    _shear(d / "g_inf.fits", edit=_set("G2", (5, 5), np.inf))
    _shear(d / "g_zero.fits", edit=lambda m: (m["G1"].fill(0.0), m["G2"].fill(0.0)))
    _shear(d / "noise_tiny.fits", edit=_set("NOISE", slice(None), 1e-30))
    _shear(d / "noise_zero.fits", edit=_set("NOISE", (2, 2), 0.0))
    _shear(d / "noise_neg.fits", edit=_set("NOISE", (2, 2), -0.05))
    _shear(d / "noise_nan.fits", edit=_set("NOISE", (2, 2), np.nan))
    _shear(d / "noise_huge.fits", edit=_set("NOISE", slice(None), 1e30))
    _shear(d / "two_g1.fits", edit=lambda m: m.__setitem__("G1", [m["G1"], np.zeros_like(m["G1"])]))
    _shear(d / "two_mask.fits", edit=lambda m: m.__setitem__("MASK", [m["MASK"], m["MASK"]]))
    _shear(d / "no_g2.fits", edit=lambda m: m.__setitem__("G2", None))
    _shear(d / "shape_mismatch.fits", edit=lambda m: m.__setitem__("G2", np.zeros((32, 32))))
    _shear(d / "cube.fits", edit=lambda m: m.update(G1=np.zeros((2, 64, 64)), G2=np.zeros((2, 64, 64))))
    _shear(d / "tiny.fits", n=2)
    _shear(d / "rect.fits", n=64, ny=48)
    _shear(d / "no_pixscale.fits", pixscale=None)
    _shear(d / "pixscale_zero.fits", pixscale=0.0)
    _shear(d / "pixscale_neg.fits", pixscale=-0.82)
    _shear(d / "pixscale_text.fits", pixscale="abc")
    _shear(d / "g_int.fits", edit=lambda m: m.update(G1=np.zeros((64, 64), dtype=np.int16),
                                                       G2=np.zeros((64, 64), dtype=np.int16)))
    np.savez(d / "shear_text.npz", G1=np.full((16, 16), "a"), G2=np.zeros((16, 16)), PIXSCALE=0.82)
    # catalogues
    uniform_catalogue(d / "cat.fits")
    uniform_catalogue(d / "cat.csv")
    cols = uniform_columns(4000)
    _csv(d / "cat_empty_cells.csv", cols,
         lambda names, rows: [r.__setitem__(2, "") for r in rows[:100]])
    _csv(d / "cat_empty_ra.csv", cols, lambda names, rows: [r.__setitem__(0, "") for r in rows[:10]])
    _csv(d / "cat_all_e1_empty.csv", cols, lambda names, rows: [r.__setitem__(2, "") for r in rows])
    (d / "cat_header_only.csv").write_text("ra,dec,e1,e2,weight\n")
    (d / "cat_no_header.csv").write_text("\n".join(",".join(f"{v:.6g}" for v in r) for r in zip(*cols.values())) + "\n")
    (d / "cat_semicolon.csv").write_text("ra;dec;e1;e2\n150;2;0.1;0.1\n150.1;2.1;0.1;0.1\n")
    _csv(d / "cat_text_e2.csv", cols, lambda names, rows: [r.__setitem__(3, "abc") for r in rows])
    rad = {k: (np.deg2rad(v) if k in ("ra", "dec") else v) for k, v in cols.items()}
    _fits_table(d / "cat_rad.fits", rad, units={"ra": "rad", "dec": "rad"})
    _fits_table(d / "cat_arcsec.fits", {k: (v * 3600 if k in ("ra", "dec") else v) for k, v in cols.items()},
                units={"ra": "arcsec", "dec": "arcsec"})
    _fits_table(d / "cat_hourangle.fits", {k: (v / 15 if k == "ra" else v) for k, v in cols.items()},
                units={"ra": "hourangle", "dec": "deg"})
    neg = dict(cols, ra=cols["ra"] - 150.0)
    _fits_table(d / "cat_negative_ra.fits", neg)
    _fits_table(d / "cat_ra400.fits", dict(cols, ra=cols["ra"] + 250.0))
    _fits_table(d / "cat_dec95.fits", dict(cols, dec=np.r_[95.0, cols["dec"][1:]]))
    _fits_table(d / "cat_weight_zero.fits", dict(cols, weight=np.zeros(4000)))
    _fits_table(d / "cat_weight_nan.fits", dict(cols, weight=np.r_[[np.nan] * 10, np.ones(3990)]))
    _fits_table(d / "cat_all_nan.fits", {k: np.full(4000, np.nan) for k in cols})
    _fits_table(d / "cat_zero_rows.fits", {k: np.zeros(0) for k in cols})
    _fits_table(d / "cat_percent.fits", dict(cols, e1=cols["e1"] * 100 + 200, e2=cols["e2"] * 100 + 200))
    _fits_table(d / "cat_point.fits", dict(cols, ra=np.full(4000, 150.0), dec=np.full(4000, 2.0)))
    _fits_table(d / "cat_m_bad.fits", dict(cols, m=np.full(4000, -1.0)))
    raw = uniform_catalogue(d / "dup_src.fits", n=500).read_bytes()
    (d / "cat_dup.fits").write_bytes(raw.replace(b"TTYPE4  = 'e2      '", b"TTYPE4  = 'e1      '"))
    (d / "dup_src.fits").unlink()
    _csv(d / "cat_dup.csv", {"ra": cols["ra"], "dec": cols["dec"], "e1": cols["e1"], "e1 ": cols["e2"]},
         lambda names, rows: names.__setitem__(3, "e1"))
    # particles
    pos = rng.uniform(0, 10, (200, 3))
    np.savez(d / "particles.npz", pos=pos, mass=np.ones(200))
    np.savez(d / "particles_negative.npz", pos=pos, mass=np.r_[np.ones(199), -1.0])
    np.savez(d / "particles_nan_mass.npz", pos=pos, mass=np.r_[np.ones(199), np.nan])
    np.savez(d / "particles_zero_mass.npz", pos=pos, mass=np.zeros(200))
    np.savez(d / "particles_nan_pos.npz", pos=np.r_[pos[:199], [[np.nan, 1, 1]]], mass=np.ones(200))
    np.savez(d / "particles_text.npz", pos=pos.astype(str), mass=np.ones(200))
    np.savez(d / "particles_2d.npz", pos=pos[:, :2], mass=np.ones(200))
    np.savez(d / "particles_mismatch.npz", pos=pos, mass=np.ones(150))
    np.savez(d / "particles_empty.npz", pos=np.zeros((0, 3)), mass=np.zeros(0))
    np.savez(d / "particles_nopos.npz", x=pos, mass=np.ones(200))
    (d / "particles_junk.npz").write_bytes(b"PK\x03\x04 junk that is not a zip")
    # folders and plain files
    (d / "a_folder").mkdir()
    (d / "empty_folder").mkdir()
    (d / "existing.txt").write_text("not a folder")
    (d / "bad.yaml").write_text("survey: [unclosed\n")
    (d / "unknown_key.yaml").write_text("survey:\n  no_such_key: 1\n")
    (d / "map_text.yaml").write_text("survey:\n  map_size: abc\n")
    (d / "map_zero.yaml").write_text("survey:\n  map_size: 0\n")
    (d / "map_huge.yaml").write_text("survey:\n  map_size: 100000\n")
    (d / "map_big.yaml").write_text("survey:\n  map_size: 5000\n")
    (d / "pixel_nan.yaml").write_text("survey:\n  pixel_arcmin: .nan\n")
    (d / "sim_small.yaml").write_text("preset: csst-small\n")  # the shipped quick model's survey
    (d / "small.yaml").write_text("survey:\n  map_size: 32\n  pixel_arcmin: 0.82\n")
    (d / "train_pkg.yaml").write_text(f"train:\n  out: {PKG / 'run'}\n")
    (d / "train_bad_lr.yaml").write_text("train:\n  lr: -1\n")
    (d / "kappa_npy").mkdir()
    np.save(d / "kappa_npy" / "k0.npy", np.zeros((64, 64)))
    (d / "kappa_junk").mkdir()
    (d / "kappa_junk" / "k0.fits").write_text("junk")
    # models
    m = d / "models"
    m.mkdir()
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    src = MODELS / "miu2net-csst-quick"
    for name in ("copy", "huge", "shapes", "nan_weights", "pixel_x", "trunc", "nojson", "badjson"):
        shutil.copyfile(src.with_suffix(".safetensors"), m / f"{name}.safetensors")
        shutil.copyfile(src.with_suffix(".json"), m / f"{name}.json")
    (m / "nojson.json").unlink()
    (m / "badjson.json").write_text("{not json")
    config = json.loads((m / "huge.json").read_text())
    config.setdefault("arch_kwargs", {})["out_channels"] = 1_000_000
    (m / "huge.json").write_text(json.dumps(config))
    config = json.loads((m / "pixel_x.json").read_text())
    config["pixel_arcmin"] = "x"
    (m / "pixel_x.json").write_text(json.dumps(config))
    raw = (m / "trunc.safetensors").read_bytes()
    (m / "trunc.safetensors").write_bytes(raw[: len(raw) // 2])
    state = load_file(m / "nan_weights.safetensors")
    for t in state.values():
        if t.is_floating_point():
            t.fill_(float("nan"))
    save_file(state, m / "nan_weights.safetensors", metadata={"format": "miu2net-model"})
    with safe_open(m / "shapes.safetensors", framework="pt") as f:
        metadata = f.metadata()
    state = load_file(m / "shapes.safetensors")
    key = next(k for k, v in state.items() if v.is_floating_point() and v.ndim == 4)
    state[key] = state[key].repeat(2, 1, 1, 1)
    save_file(state, m / "shapes.safetensors", metadata=metadata)
    # stores: one made by the CLI, then damaged copies
    good = d / "good.zarr"
    cmd = [sys.executable, "-m", "miu2net", "simulate", "--preset", "csst-small", "--n", "6", "--n-test", "2",
           "--config", str(d / "small.yaml"), "--scheduler", "sync", "--out", str(good)]
    subprocess.run(cmd, cwd=d, env=env, check=True, capture_output=True)
    splits = ("train", "val", "test")

    def chunk(s, split):
        return next(p for p in sorted((s / split / "kappa").rglob("*")) if p.is_file() and p.name != "zarr.json")

    damage = {"nosplit": lambda s: shutil.rmtree(s / "test"),
              "nokappa": lambda s: [shutil.rmtree(s / sp / "kappa") for sp in splits],
              "lostchunk": lambda s: [chunk(s, sp).unlink() for sp in splits],
              "corrupt": lambda s: [chunk(s, sp).write_bytes(b"not zstd data") for sp in splits]}
    for name, edit in damage.items():
        shutil.copytree(good, d / f"{name}.zarr")
        edit(d / f"{name}.zarr")
    np.savez(d / "junk_data.npz", x=np.zeros(3))


# ---- cases ---------------------------------------------------------------------------------------------------

R = "reconstruct"
RK = "reconstruct {I}/shear.fits -o k.fits --method ks"
P = "project {I}/particles.npz --z-lens 0.3 --z-source 1 --npix 64"
E = "evaluate --data {I}/good.zarr --out report --methods ks --n 1"
S = "simulate --preset csst-small --n 2 --n-test 0 --config {I}/small.yaml --scheduler sync"
T = "train --data {I}/good.zarr --out run --epochs 1 --batch-size 2 --no-progress"
C = "calibrate --model {I}/models/copy --data {I}/good.zarr --n 2"
X = "models export-onnx {I}/models/copy"


def case(cls, name, cmd, expect="refuse", must=None, check=None, setup=None, timeout=TIMEOUT, sigint=None):
    return {"cls": cls, "name": name, "cmd": cmd, "expect": expect, "must": must, "check": check,
            "setup": setup, "timeout": timeout, "sigint": sigint}


def _char_device(path):
    return lambda folder: None if stat.S_ISCHR(os.stat(path).st_mode) else f"{path} is no longer a device"


def _fifo(name):
    def setup(folder, inputs):
        os.mkfifo(folder / name)
    return setup


def _still_fifo(name):
    return lambda folder: None if stat.S_ISFIFO(os.stat(folder / name).st_mode) else f"{name} is no longer a FIFO"


def _symlink(name, target):
    return lambda folder, inputs: os.symlink(str(target).format(I=inputs), folder / name)


def _hardlink(name, target):
    return lambda folder, inputs: os.link(str(target).format(I=inputs), folder / name)


def _write(name, text):
    return lambda folder, inputs: (folder / name).write_text(text)


def _header_finite(path="k.fits"):
    """Every number in every header of the output is finite (no inf/nan went into a card)."""
    def check(folder):
        import math

        with fits.open(folder / path) as hdul:
            for h in hdul:
                for key, value in h.header.items():
                    if isinstance(value, float) and not math.isfinite(value):
                        return f"header {h.name}.{key} = {value}"
                    if isinstance(value, str) and value.strip().lower() in ("inf", "nan", "-inf"):
                        return f"header {h.name}.{key} = {value!r}"
        return None
    return check


def _centre_near(ra, dec, path="k.fits"):
    """The output map's centre (CRVAL) lies near (ra, dec): a unit was converted, not read as degrees."""
    def check(folder):
        header = None
        with fits.open(folder / path) as hdul:
            for h in hdul:
                if "CRVAL1" in h.header:
                    header = h.header
                    break
        if header is None:
            return "no CRVAL1 in the output"
        if abs(header["CRVAL1"] - ra) > 1 or abs(header["CRVAL2"] - dec) > 1:
            return f"map centred at ({header['CRVAL1']:.3f}, {header['CRVAL2']:.3f}), expected ({ra}, {dec})"
        return None
    return check


def _is_png(path):
    return lambda folder: None if (folder / path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" else f"{path} not PNG"


def _no_warning(folder, output):  # used by the runner for expect="ok" with "no_warning"
    return None


CASES = [
    # ---- A. data lost or damaged ----------------------------------------------------------------------------
    case("A data lost", "reconstruct -o /dev/null", f"{RK} -o /dev/null".replace("-o k.fits ", ""), "either",
         check=_char_device("/dev/null")),
    case("A data lost", "reconstruct -o /dev/full", f"{RK} -o /dev/full".replace("-o k.fits ", ""), "refuse",
         check=_char_device("/dev/full")),
    case("A data lost", "reconstruct -o FIFO", f"{RK} -o pipe.fits".replace("-o k.fits ", ""), "refuse",
         setup=_fifo("pipe.fits"), check=_still_fifo("pipe.fits")),
    case("A data lost", "reconstruct --png FIFO", f"{RK} --png pipe.png", "refuse", setup=_fifo("pipe.png"),
         check=_still_fifo("pipe.png")),
    case("A data lost", "reconstruct --png /dev/null", f"{RK} --png /dev/null", "either",
         check=_char_device("/dev/null")),
    case("A data lost", "project -o /dev/null", f"{P} -o /dev/null", "either", check=_char_device("/dev/null")),
    case("A data lost", "project -o FIFO", f"{P} -o pipe.fits", "refuse", setup=_fifo("pipe.fits"),
         check=_still_fifo("pipe.fits")),
    case("A data lost", "show -o /dev/null", "show {I}/good.zarr -o /dev/null", "either",
         check=_char_device("/dev/null")),
    case("A data lost", "show -o FIFO", "show {I}/good.zarr -o pipe.png", "refuse", setup=_fifo("pipe.png"),
         check=_still_fifo("pipe.png")),
    case("A data lost", "export-onnx -o /dev/null", f"{X} -o /dev/null", "either", check=_char_device("/dev/null")),
    case("A data lost", "export-onnx -o FIFO", f"{X} -o pipe.onnx", "refuse", setup=_fifo("pipe.onnx"),
         check=_still_fifo("pipe.onnx")),
    case("A data lost", "evaluate --out /dev/null", E.replace("--out report", "--out /dev/null"), "refuse",
         check=_char_device("/dev/null")),
    case("A data lost", "simulate --out /dev/null", f"{S} --out /dev/null", "refuse", check=_char_device("/dev/null")),
    case("A data lost", "train --out /dev/null", T.replace("--out run", "--out /dev/null"), "refuse",
         check=_char_device("/dev/null")),
    case("A data lost", "calibrate --out /dev/null (would write /dev/null.json)", f"{C} --out /dev/null", "refuse",
         check=lambda f: "wrote /dev/null.json" if Path("/dev/null.json").exists() else None),
    case("A data lost", "train --out src/miu2net/models", "train --data {I}/good.zarr --out {MODELS}"),
    case("A data lost", "train --out the package folder", "train --data {I}/good.zarr --out {PKG}"),
    case("A data lost", "train --out ../ into the package", "train --data {I}/good.zarr --out {PKG}/models/../run"),
    case("A data lost", "train --out a symlink to the package", "train --data {I}/good.zarr --out pkg/run",
         setup=_symlink("pkg", PKG)),
    case("A data lost", "train --config's out in the package", "train --data {I}/good.zarr --config {I}/train_pkg.yaml"),
    case("A data lost", "reconstruct -o into the package", f"{RK} -o {{PKG}}/k.fits".replace("-o k.fits ", "")),
    case("A data lost", "project -o into the models folder", f"{P} -o {{MODELS}}/k.fits"),
    case("A data lost", "show -o into the package", "show {I}/good.zarr -o {PKG}/s.png"),
    case("A data lost", "export-onnx -o into the models folder", f"{X} -o {{MODELS}}/m.onnx"),
    case("A data lost", "evaluate --out into the package", E.replace("--out report", "--out {PKG}/report")),
    case("A data lost", "simulate --out into the package", f"{S} --out {{PKG}}/s.zarr"),
    case("A data lost", "calibrate --out into the models folder", f"{C} --out {{MODELS}}/mine"),
    case("A data lost", "calibrate --out onto a shipped model", f"{C} --out {{MODELS}}/miu2net-csst-quick"),
    case("A data lost", "calibrate --out onto an existing model's stem", f"{C} --out {{I}}/models/huge"),
    case("A data lost", "calibrate --out onto an existing .json only", f"{C} --out mine",
         setup=_write("mine.json", "{}")),
    case("A data lost", "calibrate --out onto an existing .safetensors only", f"{C} --out mine.safetensors",
         setup=_write("mine.safetensors", "x")),
    case("A data lost", "calibrate --out = --model", f"{C} --out {{I}}/models/copy"),
    case("A data lost", "calibrate --model shipped, no --out", "calibrate --model miu2net-csst-quick --data {I}/good.zarr --n 2"),
    case("A data lost", "simulate map_size 100000 (beyond memory)", "simulate --preset csst-small --n 2 --n-test 0 "
         "--config {I}/map_huge.yaml --scheduler sync --out s.zarr"),
    case("A data lost", "simulate map_size 5000 (beyond the 8 GB cap)", "simulate --preset csst-small --n 2 --n-test 0 "
         "--config {I}/map_big.yaml --scheduler sync --out s.zarr"),
    case("A data lost", "simulate unreachable scheduler", "simulate --preset csst-small --n 2 --n-test 0 "
         "--config {I}/small.yaml --scheduler tcp://127.0.0.1:1 --out s.zarr"),
    case("A data lost", "simulate unreachable scheduler into an empty folder",
         "simulate --preset csst-small --n 2 --n-test 0 --config {I}/small.yaml --scheduler tcp://127.0.0.1:1 --out s",
         setup=lambda f, i: (f / "s").mkdir()),
    case("A data lost", "project --compare-methods ks,foo", f"{P} -o k.fits --compare-png c.png --compare-methods ks,foo"),
    case("A data lost", "project --compare-methods ''", f"{P} -o k.fits --compare-png c.png --compare-methods ''"),
    case("A data lost", "reconstruct -o = input", "reconstruct {I}/shear.fits -o {I}/shear.fits --method ks"),
    case("A data lost", "reconstruct -o a symlink to the input", "reconstruct {I}/shear.fits -o link.fits --method ks",
         setup=_symlink("link.fits", "{I}/shear.fits")),
    case("A data lost", "reconstruct -o a hard link to the input", "reconstruct {I}/shear.fits -o link.fits --method ks",
         setup=_hardlink("link.fits", "{I}/shear.fits")),
    case("A data lost", "reconstruct --png = input", f"{RK} --png {{I}}/shear.fits"),
    case("A data lost", "reconstruct --png = -o", f"{RK} --png k.fits"),
    case("A data lost", "project -o = particles", "project {I}/particles.npz --z-lens 0.3 --z-source 1 -o {I}/particles.npz"),
    case("A data lost", "project --compare-png = -o", f"{P} -o k.png --compare-png k.png"),
    case("A data lost", "evaluate --out = --data", E.replace("--out report", "--out {I}/good.zarr")),
    case("A data lost", "evaluate --out inside --data", E.replace("--out report", "--out {I}/good.zarr/report")),
    case("A data lost", "train --out = --data", T.replace("--out run", "--out {I}/good.zarr")),
    case("A data lost", "train --out inside --data", T.replace("--out run", "--out {I}/good.zarr/run")),
    case("A data lost", "simulate --out onto a catalogue file", f"{S} --out {{I}}/cat.fits"),
    case("A data lost", "simulate --out inside a store", f"{S} --out {{I}}/good.zarr/train"),
    case("A data lost", "export-onnx -o = the model's weights", f"{X} -o {{I}}/models/copy.safetensors"),
    case("A data lost", "export-onnx -o = the model's JSON", f"{X} -o {{I}}/models/copy.json"),
    case("A data lost", "show -o = the store", "show {I}/good.zarr -o {I}/good.zarr"),
    case("A data lost", "reconstruct -o into a missing folder", f"{RK} -o no/k.fits".replace("-o k.fits ", "")),
    case("A data lost", "reconstruct -o ''", f"{RK} -o ''".replace("-o k.fits ", "")),
    case("A data lost", "reconstruct -o a folder", f"{RK} -o {{I}}/a_folder".replace("-o k.fits ", "")),
    case("A data lost", "show -o into a missing folder", "show {I}/good.zarr -o no/s.png"),
    case("A data lost", "export-onnx -o into a missing folder", f"{X} -o no/m.onnx"),
    case("A data lost", "project -o onto a folder", f"{P} -o {{I}}/a_folder"),
    # ---- B. silent wrong output ------------------------------------------------------------------------------
    case("B silent", "CSV empty e1 cells dropped and counted", "reconstruct {I}/cat_empty_cells.csv -o k.fits --method ks",
         "ok", must="100 rows with missing"),
    case("B silent", "CSV empty RA cells dropped and counted", "reconstruct {I}/cat_empty_ra.csv -o k.fits --method ks",
         "ok", must="10 rows with missing"),
    case("B silent", "CSV every e1 empty", "reconstruct {I}/cat_all_e1_empty.csv -o k.fits --method ks"),
    case("B silent", "CSV header only", "reconstruct {I}/cat_header_only.csv -o k.fits --method ks"),
    case("B silent", "CSV without a header row", "reconstruct {I}/cat_no_header.csv -o k.fits --method ks"),
    case("B silent", "CSV with ';' separators", "reconstruct {I}/cat_semicolon.csv -o k.fits --method ks"),
    case("B silent", "CSV text e2", "reconstruct {I}/cat_text_e2.csv -o k.fits --method ks"),
    case("B silent", "CSV column twice", "reconstruct {I}/cat_dup.csv -o k.fits --method ks"),
    case("B silent", "FITS column twice", "reconstruct {I}/cat_dup.fits -o k.fits --method ks"),
    case("B silent", "FITS TUNIT rad (convert or refuse)", "reconstruct {I}/cat_rad.fits -o k.fits --method ks",
         "either", check=_centre_near(150.0, 2.0)),
    case("B silent", "FITS TUNIT arcsec (convert or refuse)", "reconstruct {I}/cat_arcsec.fits -o k.fits --method ks",
         "either", check=_centre_near(150.0, 2.0)),
    case("B silent", "FITS RA TUNIT hourangle (convert or refuse)",
         "reconstruct {I}/cat_hourangle.fits -o k.fits --method ks", "either", check=_centre_near(150.0, 2.0)),
    case("B silent", "negative RA read as RA+360, said", "reconstruct {I}/cat_negative_ra.fits -o k.fits --method ks",
         "ok", must="negative RAs read as RA + 360"),
    case("B silent", "RA 400", "reconstruct {I}/cat_ra400.fits -o k.fits --method ks"),
    case("B silent", "Dec 95 in one row", "reconstruct {I}/cat_dec95.fits -o k.fits --method ks"),
    case("B silent", "all weights 0", "reconstruct {I}/cat_weight_zero.fits -o k.fits --method ks"),
    case("B silent", "NaN weights dropped and counted", "reconstruct {I}/cat_weight_nan.fits -o k.fits --method ks",
         "either", must="10 rows"),
    case("B silent", "every value NaN", "reconstruct {I}/cat_all_nan.fits -o k.fits --method ks"),
    case("B silent", "zero-row catalogue", "reconstruct {I}/cat_zero_rows.fits -o k.fits --method ks"),
    case("B silent", "ellipticities in percent (all |e| > 1)", "reconstruct {I}/cat_percent.fits -o k.fits --method ks"),
    case("B silent", "every galaxy at one point", "reconstruct {I}/cat_point.fits -o k.fits --method ks"),
    case("B silent", "m = -1 (1+m = 0)", "reconstruct {I}/cat_m_bad.fits -o k.fits --method ks"),
    case("B silent", "--e1-col e2 (same column for e1 and e2)", "reconstruct {I}/cat.fits -o k.fits --method ks --e1-col e2"),
    case("B silent", "--ra-col dec", "reconstruct {I}/cat.fits -o k.fits --method ks --ra-col dec"),
    case("B silent", "NOISE 1e-30", "reconstruct {I}/noise_tiny.fits -o k.fits --method ks"),
    case("B silent", "NOISE 0 in an observed pixel", "reconstruct {I}/noise_zero.fits -o k.fits --method ks"),
    case("B silent", "NOISE negative", "reconstruct {I}/noise_neg.fits -o k.fits --method ks"),
    case("B silent", "NOISE NaN in an observed pixel", "reconstruct {I}/noise_nan.fits -o k.fits --method ks"),
    case("B silent", "NOISE 1e30 (accepted: the file contract bounds NOISE below only)",
         "reconstruct {I}/noise_huge.fits -o k.fits --method ks", "either", must="wrote"),
    case("B silent", "MASK 0.5", "reconstruct {I}/mask_half.fits -o k.fits --method ks"),
    case("B silent", "MASK 2", "reconstruct {I}/mask_two.fits -o k.fits --method ks"),
    case("B silent", "MASK NaN (read as masked, said)", "reconstruct {I}/mask_nan.fits -o k.fits --method ks",
         "either", must="read as masked"),
    case("B silent", "MASK all 0", "reconstruct {I}/mask_zero.fits -o k.fits --method ks"),
    case("B silent", "|g| = 1.5 observed", "reconstruct {I}/g_big.fits -o k.fits --method ks"),
    case("B silent", "|g| = 1 observed", "reconstruct {I}/g_one.fits -o k.fits --method ks"),
    case("B silent", "G1 NaN in an observed pixel", "reconstruct {I}/g_nan.fits -o k.fits --method ks"),
    case("B silent", "G2 inf in an observed pixel", "reconstruct {I}/g_inf.fits -o k.fits --method ks"),
    case("B silent", "two G1 HDUs", "reconstruct {I}/two_g1.fits -o k.fits --method ks"),
    case("B silent", "two MASK HDUs", "reconstruct {I}/two_mask.fits -o k.fits --method ks"),
    case("B silent", "no G2 HDU", "reconstruct {I}/no_g2.fits -o k.fits --method ks"),
    case("B silent", "G2 of another shape", "reconstruct {I}/shape_mismatch.fits -o k.fits --method ks"),
    case("B silent", "G1 a cube", "reconstruct {I}/cube.fits -o k.fits --method ks"),
    case("B silent", "2x2 map", "reconstruct {I}/tiny.fits -o k.fits --method ks"),
    case("B silent", "no PIXSCALE (default said, or refused)", "reconstruct {I}/no_pixscale.fits -o k.fits --method ks",
         "either", must="pixel"),
    case("B silent", "PIXSCALE 0", "reconstruct {I}/pixscale_zero.fits -o k.fits --method ks"),
    case("B silent", "PIXSCALE negative", "reconstruct {I}/pixscale_neg.fits -o k.fits --method ks"),
    case("B silent", "PIXSCALE 'abc'", "reconstruct {I}/pixscale_text.fits -o k.fits --method ks"),
    case("B silent", ".npz G1 as text", "reconstruct {I}/shear_text.npz -o k.fits --method ks"),
    case("B silent", "project negative masses", "project {I}/particles_negative.npz --z-lens 0.3 --z-source 1 --npix 64 -o k.fits"),
    case("B silent", "project NaN mass", "project {I}/particles_nan_mass.npz --z-lens 0.3 --z-source 1 --npix 64 -o k.fits"),
    case("B silent", "project all masses 0", "project {I}/particles_zero_mass.npz --z-lens 0.3 --z-source 1 --npix 64 -o k.fits"),
    case("B silent", "project NaN position", "project {I}/particles_nan_pos.npz --z-lens 0.3 --z-source 1 --npix 64 -o k.fits"),
    case("B silent", "show -o x.jpg", "show {I}/good.zarr -o s.jpg"),
    case("B silent", "reconstruct --png x.jpg", f"{RK} --png k.jpg"),
    case("B silent", "project --compare-png x.jpg", f"{P} -o k.fits --compare-png c.jpg"),
    case("B silent", "reconstruct -o k.png (FITS bytes in a .png name)", f"{RK} -o k.png".replace("-o k.fits ", "")),
    case("B silent", "evaluate store with a lost chunk", E.replace("good.zarr", "lostchunk.zarr")),
    case("B silent", "show store with a lost chunk", "show {I}/lostchunk.zarr -o s.png"),
    case("B silent", "train store with a lost chunk", T.replace("good.zarr", "lostchunk.zarr")),
    case("B silent", "calibrate store with a lost chunk", C.replace("good.zarr", "lostchunk.zarr") + " --out cal"),
    # ---- C. tracebacks --------------------------------------------------------------------------------------
    case("C traceback", "evaluate store without its test split", E.replace("good.zarr", "nosplit.zarr")),
    case("C traceback", "evaluate store without kappa", E.replace("good.zarr", "nokappa.zarr")),
    case("C traceback", "evaluate store with a corrupt chunk", E.replace("good.zarr", "corrupt.zarr")),
    case("C traceback", "show store without kappa", "show {I}/nokappa.zarr -o s.png"),
    case("C traceback", "show store without the split", "show {I}/nosplit.zarr --split test -o s.png"),
    case("C traceback", "show store with a corrupt chunk", "show {I}/corrupt.zarr -o s.png"),
    case("C traceback", "train store without a split", T.replace("good.zarr", "nosplit.zarr")),
    case("C traceback", "train store without kappa", T.replace("good.zarr", "nokappa.zarr")),
    case("C traceback", "train store with a corrupt chunk", T.replace("good.zarr", "corrupt.zarr")),
    case("C traceback", "calibrate store without a split", C.replace("good.zarr", "nosplit.zarr") + " --split test --out cal"),
    case("C traceback", "calibrate store without kappa", C.replace("good.zarr", "nokappa.zarr") + " --out cal"),
    case("C traceback", "calibrate store with a corrupt chunk", C.replace("good.zarr", "corrupt.zarr") + " --out cal"),
    case("C traceback", "model tensor shapes not its JSON's",
         "reconstruct {I}/shear128.fits -o k.fits --method miu2net --option model={I}/models/shapes"),
    case("C traceback", "model with NaN weights",
         "reconstruct {I}/shear128.fits -o k.fits --method miu2net --option model={I}/models/nan_weights"),
    case("C traceback", "model JSON out_channels 10^6",
         "reconstruct {I}/shear128.fits -o k.fits --method miu2net --option model={I}/models/huge"),
    case("C traceback", "model JSON pixel_arcmin 'x'",
         "reconstruct {I}/shear128.fits -o k.fits --method miu2net --option model={I}/models/pixel_x"),
    case("C traceback", "model weights truncated",
         "reconstruct {I}/shear128.fits -o k.fits --method miu2net --option model={I}/models/trunc"),
    case("C traceback", "model without its JSON",
         "reconstruct {I}/shear128.fits -o k.fits --method miu2net --option model={I}/models/nojson"),
    case("C traceback", "model JSON not JSON",
         "reconstruct {I}/shear128.fits -o k.fits --method miu2net --option model={I}/models/badjson"),
    case("C traceback", "model that does not exist",
         "reconstruct {I}/shear128.fits -o k.fits --method miu2net --option model={I}/models/nosuch"),
    case("C traceback", "export-onnx of a truncated model", "models export-onnx {I}/models/trunc -o m.onnx"),
    case("C traceback", "export-onnx of a model with wrong shapes", "models export-onnx {I}/models/shapes -o m.onnx"),
    case("C traceback", "export-onnx unknown model", "models export-onnx nosuchmodel -o m.onnx"),
    case("C traceback", "calibrate with a truncated model", "calibrate --model {I}/models/trunc --data {I}/good.zarr --n 2 --out cal"),
    case("C traceback", "G1 = G2 = 0 (no inf in the header)", "reconstruct {I}/g_zero.fits -o k.fits --method ks",
         "either", check=_header_finite()),
    case("C traceback", "G1 = G2 = 0 with noise realisations",
         "reconstruct {I}/g_zero.fits -o k.fits --method ks --noise-realisations 4", "either", check=_header_finite()),
    case("C traceback", "integer G1/G2 maps (all zero)", "reconstruct {I}/g_int.fits -o k.fits --method ks",
         "either", check=_header_finite()),
    case("C traceback", "reconstruct --seed -1", f"{RK} --noise-realisations 2 --seed -1"),
    case("C traceback", "reconstruct --seed 2^40", f"{RK} --noise-realisations 2 --seed 1099511627776"),
    case("C traceback", "project --seed -1", f"{P} -o k.fits --compare-png c.png --seed -1"),
    case("C traceback", "simulate --seed -1", f"{S} --out s.zarr --seed -1"),
    case("C traceback", "train --seed -1", f"{T} --seed -1"),
    case("C traceback", "calibrate --seed -1", "calibrate --model {I}/models/copy --stream --n 2 --seed -1 --out cal"),
    case("C traceback", "train --devices abc", f"{T} --devices abc"),
    case("C traceback", "train --devices -1", f"{T} --devices -1"),
    case("C traceback", "train --devices 0,abc", f"{T} --devices 0,abc"),
    case("C traceback", "train --accelerator gpu (no GPU here)", f"{T} --accelerator gpu"),
    case("C traceback", "train --accelerator tpu", f"{T} --accelerator tpu"),
    case("C traceback", "train --strategy nosuch", f"{T} --strategy nosuch"),
    case("C traceback", "train --precision 8", f"{T} --precision 8"),
    case("C traceback", "train --batch-size 0", T.replace("--batch-size 2", "--batch-size 0")),
    case("C traceback", "train --batch-size -3", T.replace("--batch-size 2", "--batch-size -3")),
    case("C traceback", "train --lr -1", f"{T} --lr -1"),
    case("C traceback", "train --lr inf", f"{T} --lr inf"),
    case("C traceback", "train --weight-decay nan", f"{T} --weight-decay nan"),
    case("C traceback", "train --epochs -1", T.replace("--epochs 1", "--epochs -1")),
    case("C traceback", "train --workers -1", f"{T} --workers -1"),
    case("C traceback", "train --num-nodes 0", f"{T} --num-nodes 0"),
    case("C traceback", "train --patience -1", f"{T} --patience -1"),
    case("C traceback", "train --schedule nosuch", f"{T} --schedule nosuch"),
    case("C traceback", "train --arch nosuch", f"{T} --arch nosuch"),
    case("C traceback", "train --inputs g1,foo", f"{T} --inputs g1,foo"),
    case("C traceback", "train --out-channels 3", f"{T} --out-channels 3"),
    case("C traceback", "train --freq-weight nan", f"{T} --freq-weight nan"),
    case("C traceback", "train --ell-max -1", f"{T} --ell-max -1"),
    case("C traceback", "train --spread-loss nosuch", f"{T} --spread-loss nosuch"),
    case("C traceback", "train --noise-encoding nosuch", f"{T} --noise-encoding nosuch"),
    case("C traceback", "train --max-time-minutes -1", f"{T} --max-time-minutes -1"),
    case("C traceback", "train --max-time-minutes nan", f"{T} --max-time-minutes nan"),
    case("C traceback", "train --stream --steps-per-epoch 0", f"{T} --stream --steps-per-epoch 0"),
    case("C traceback", "train --stream --views-per-truth 0", f"{T} --stream --views-per-truth 0"),
    case("C traceback", "train --stream --n-gal-range 0,10", f"{T} --stream --n-gal-range 0,10"),
    case("C traceback", "train --stream --n-gal-range nan,10", f"{T} --stream --n-gal-range nan,10"),
    case("C traceback", "train --stream --sim-config missing", f"{T} --stream --sim-config none.yaml"),
    case("C traceback", "train --config missing", f"{T} --config none.yaml"),
    case("C traceback", "train --config not YAML", f"{T} --config {{I}}/bad.yaml"),
    case("C traceback", "train --config lr -1", f"{T} --config {{I}}/train_bad_lr.yaml"),
    case("C traceback", "train --data a folder that is no store", T.replace("{I}/good.zarr", "{I}/a_folder")),
    case("C traceback", "train --data a FITS file", T.replace("{I}/good.zarr", "{I}/shear.fits")),
    case("C traceback", "train --data an .npz without maps", T.replace("{I}/good.zarr", "{I}/junk_data.npz")),
    case("C traceback", "train without --data", "train --out run"),
    case("C traceback", "train --resume with no checkpoint", f"{T} --resume"),
    case("C traceback", "calibrate --edge-pixels -1", f"{C} --edge-pixels -1 --out cal"),
    case("C traceback", "calibrate --edge-pixels 10^9", f"{C} --edge-pixels 1000000000 --out cal"),
    case("C traceback", "calibrate --device cuda (no GPU here)", f"{C} --device cuda --out cal"),
    case("C traceback", "calibrate --device nosuch", f"{C} --device nosuch --out cal"),
    case("C traceback", "calibrate --batch-size 0", f"{C} --batch-size 0 --out cal"),
    case("C traceback", "calibrate --n -1", C.replace("--n 2", "--n -1") + " --out cal"),
    case("C traceback", "calibrate --split nosuch", f"{C} --split nosuch --out cal"),
    case("C traceback", "calibrate --model missing", "calibrate --model {I}/models/nosuch --data {I}/good.zarr --out cal"),
    case("C traceback", "calibrate --model a folder", "calibrate --model {I}/a_folder --data {I}/good.zarr --out cal"),
    case("C traceback", "calibrate --data a FITS file", "calibrate --model {I}/models/copy --data {I}/shear.fits --out cal"),
    case("C traceback", "calibrate neither --data nor --stream", "calibrate --model {I}/models/copy --out cal"),
    case("C traceback", "calibrate --stream --sim-config missing",
         "calibrate --model {I}/models/copy --stream --n 2 --sim-config none.yaml --out cal"),
    case("C traceback", "calibrate on maps of another size than the model's", f"{C} --out cal"),
    case("C traceback", "--smooth 1e12", f"{RK} --smooth 1e12"),
    case("C traceback", "--smooth inf", f"{RK} --smooth inf"),
    case("C traceback", "--option pad_pixels=1000000", "reconstruct {I}/shear.fits -o k.fits --method wiener --option pad_pixels=1000000"),
    case("C traceback", "--option pad_pixels=-5", "reconstruct {I}/shear.fits -o k.fits --method wiener --option pad_pixels=-5"),
    case("C traceback", "--option max_iter=1e12 (stops on convergence)",
         "reconstruct {I}/shear.fits -o k.fits --method wiener --option max_iter=1000000000000", "either", must="wrote"),
    case("C traceback", "--option smooth_arcmin=[1,2]", f"{RK} --option smooth_arcmin=[1,2]"),
    case("C traceback", "--option model=nosuch", "reconstruct {I}/shear128.fits -o k.fits --method miu2net --option model=nosuch"),
    case("C traceback", "--method miu2net on 64² maps (model is 128²)", "reconstruct {I}/shear.fits -o k.fits --method miu2net"),
    case("C traceback", "--size 5000 (beyond the 8 GB cap)", "reconstruct {I}/cat.fits -o k.fits --method ks --size 5000"),
    case("C traceback", "--size 0", "reconstruct {I}/cat.fits -o k.fits --method ks --size 0"),
    case("C traceback", "--pixel-arcmin inf", "reconstruct {I}/cat.fits -o k.fits --method ks --pixel-arcmin inf"),
    case("C traceback", "--pixel-arcmin 1e-6", "reconstruct {I}/cat.fits -o k.fits --method ks --pixel-arcmin 1e-6"),
    case("C traceback", "--center nan,nan", "reconstruct {I}/cat.fits -o k.fits --method ks --center nan,nan"),
    case("C traceback", "--center 1,2,3", "reconstruct {I}/cat.fits -o k.fits --method ks --center 1,2,3"),
    case("C traceback", "--center far from the catalogue", "reconstruct {I}/cat.fits -o k.fits --method ks --center 10,-40"),
    case("C traceback", "--cut on a missing column", "reconstruct {I}/cat.fits -o k.fits --method ks --cut 'mag < 24'"),
    case("C traceback", "--cut with text", "reconstruct {I}/cat.fits -o k.fits --method ks --cut 'e1 < abc'"),
    case("C traceback", "--cut code injection", "reconstruct {I}/cat.fits -o k.fits --method ks --cut "
         "\"__import__('os').system('touch pwned') or e1 < 1\""),
    case("C traceback", "--cut removing every row", "reconstruct {I}/cat.fits -o k.fits --method ks --cut 'e1 > 10'"),
    case("C traceback", "--m-col missing", "reconstruct {I}/cat.fits -o k.fits --method ks --m-col nosuch"),
    case("C traceback", "--tile 0", f"{RK} --tile 0"),
    case("C traceback", "--tile 10^9 (wider than the map: one tile)", f"{RK} --tile 1000000000", "either",
         must="wrote"),
    case("C traceback", "--tile-overlap -1", f"{RK} --tile 32 --tile-overlap -1"),
    case("C traceback", "--scheduler unreachable (tiles)", f"{RK} --tile 32 --tile-overlap 8 --scheduler tcp://127.0.0.1:1"),
    case("C traceback", "--scheduler nosuch", f"{RK} --tile 32 --tile-overlap 8 --scheduler nosuch"),
    case("C traceback", "--preset nosuch", f"{RK} --preset nosuch"),
    case("C traceback", "--estimate nosuch", "reconstruct {I}/shear128.fits -o k.fits --method miu2net --estimate nosuch"),
    case("C traceback", "--coverage nan", "reconstruct {I}/shear128.fits -o k.fits --method miu2net --coverage nan"),
    case("C traceback", "--noise-realisations 10001", f"{RK} --noise-realisations 10001"),
    case("C traceback", "reconstruct missing input", "reconstruct nothing.fits -o k.fits"),
    case("C traceback", "reconstruct input a folder", "reconstruct {I}/a_folder -o k.fits"),
    case("C traceback", "reconstruct empty file", "reconstruct {I}/empty.fits -o k.fits"),
    case("C traceback", "reconstruct text named .fits", "reconstruct {I}/text.fits -o k.fits"),
    case("C traceback", "reconstruct truncated FITS", "reconstruct {I}/truncated.fits -o k.fits --method ks"),
    case("C traceback", "reconstruct /dev/null as input", "reconstruct /dev/null -o k.fits"),
    case("C traceback", "reconstruct a FIFO as input (must not hang)", "reconstruct in.fits -o k.fits",
         setup=_fifo("in.fits"), check=_still_fifo("in.fits")),
    case("C traceback", "reconstruct a model file as input", "reconstruct {I}/models/copy.safetensors -o k.fits"),
    case("C traceback", "project string positions", "project {I}/particles_text.npz --z-lens 0.3 --z-source 1 -o k.fits"),
    case("C traceback", "project positions (N, 2)", "project {I}/particles_2d.npz --z-lens 0.3 --z-source 1 -o k.fits"),
    case("C traceback", "project masses of another length", "project {I}/particles_mismatch.npz --z-lens 0.3 --z-source 1 -o k.fits"),
    case("C traceback", "project no particles", "project {I}/particles_empty.npz --z-lens 0.3 --z-source 1 -o k.fits"),
    case("C traceback", "project .npz without pos", "project {I}/particles_nopos.npz --z-lens 0.3 --z-source 1 -o k.fits"),
    case("C traceback", "project junk .npz", "project {I}/particles_junk.npz --z-lens 0.3 --z-source 1 -o k.fits"),
    case("C traceback", "project a FITS image", "project {I}/shear.fits --z-lens 0.3 --z-source 1 -o k.fits"),
    case("C traceback", "project --z-lens 0", "project {I}/particles.npz --z-lens 0 --z-source 1 -o k.fits"),
    case("C traceback", "project --z-source inf", "project {I}/particles.npz --z-lens 0.3 --z-source inf -o k.fits"),
    case("C traceback", "project z_lens = z_source", "project {I}/particles.npz --z-lens 1 --z-source 1 -o k.fits"),
    case("C traceback", "project --z-source 1e6", "project {I}/particles.npz --z-lens 0.3 --z-source 1e6 -o k.fits"),
    case("C traceback", "project --npix 0", "project {I}/particles.npz --z-lens 0.3 --z-source 1 --npix 0 -o k.fits"),
    case("C traceback", "project --npix 5000 (fits under the 8 GB cap)",
         "project {I}/particles.npz --z-lens 0.3 --z-source 1 --npix 5000 -o k.fits", "either", must="wrote"),
    case("C traceback", "project --box -1", f"{P} -o k.fits --box -1"),
    case("C traceback", "project --box nan", f"{P} -o k.fits --box nan"),
    case("C traceback", "project --box 1e-30", f"{P} -o k.fits --box 1e-30"),
    case("C traceback", "project --origin abc", f"{P} -o k.fits --origin abc"),
    case("C traceback", "project --origin nan,0,0", f"{P} -o k.fits --origin nan,0,0"),
    case("C traceback", "project --axes w", f"{P} -o k.fits --axes w"),
    case("C traceback", "project --axes ''", f"{P} -o k.fits --axes ''"),
    case("C traceback", "project --length-unit parsec", f"{P} -o k.fits --length-unit parsec"),
    case("C traceback", "project --mass-unit kg", f"{P} -o k.fits --mass-unit kg"),
    case("C traceback", "project --particle-mass -1", f"{P} -o k.fits --particle-mass -1"),
    case("C traceback", "project --hubble 0", f"{P} -o k.fits --hubble 0"),
    case("C traceback", "project --n-gal 0", f"{P} -o k.fits --compare-png c.png --n-gal 0"),
    case("C traceback", "project --n-gal 1e12", f"{P} -o k.fits --compare-png c.png --n-gal 1e12"),
    case("C traceback", "simulate --n -1", "simulate --out s.zarr --n -1"),
    case("C traceback", "simulate --n-test -1", "simulate --out s.zarr --n 2 --n-test -1"),
    case("C traceback", "simulate --n 10^12", "simulate --out s.zarr --preset csst-small --n 1000000000000 --scheduler sync"),
    case("C traceback", "simulate --workers 0", f"{S} --out s.zarr --workers 0".replace("--scheduler sync", "")),
    case("C traceback", "simulate --workers -1", f"{S} --out s.zarr --workers -1".replace("--scheduler sync", "")),
    case("C traceback", "simulate --batch-size -1", f"{S} --out s.zarr --batch-size -1"),
    case("C traceback", "simulate --truth nosuch", f"{S} --out s.zarr --truth nosuch"),
    case("C traceback", "simulate --truth nbody --bank a file", f"{S} --out s.zarr --truth nbody --bank {{I}}/existing.txt"),
    case("C traceback", "simulate --kappa-from missing", f"{S} --out s.zarr --kappa-from nothing"),
    case("C traceback", "simulate --kappa-from a file", f"{S} --out s.zarr --kappa-from {{I}}/shear.fits"),
    case("C traceback", "simulate --kappa-from an empty folder", f"{S} --out s.zarr --kappa-from {{I}}/empty_folder"),
    case("C traceback", "simulate --kappa-from junk FITS", f"{S} --out s.zarr --kappa-from {{I}}/kappa_junk"),
    case("C traceback", "simulate --kappa-from .npy without pixel", f"{S} --out s.zarr --kappa-from {{I}}/kappa_npy"),
    case("C traceback", "simulate --kappa-pixel-arcmin -1", f"{S} --out s.zarr --kappa-from {{I}}/kappa_npy --kappa-pixel-arcmin -1"),
    case("C traceback", "simulate --config not YAML", "simulate --preset csst-small --n 2 --n-test 0 --config {I}/bad.yaml --out s.zarr"),
    case("C traceback", "simulate --config unknown key", "simulate --preset csst-small --n 2 --n-test 0 --config {I}/unknown_key.yaml --out s.zarr"),
    case("C traceback", "simulate --config map_size abc", "simulate --preset csst-small --n 2 --n-test 0 --config {I}/map_text.yaml --out s.zarr"),
    case("C traceback", "simulate --config map_size 0", "simulate --preset csst-small --n 2 --n-test 0 --config {I}/map_zero.yaml --out s.zarr"),
    case("C traceback", "simulate --config pixel_arcmin nan", "simulate --preset csst-small --n 2 --n-test 0 --config {I}/pixel_nan.yaml --out s.zarr"),
    case("C traceback", "simulate --config a folder", "simulate --preset csst-small --n 2 --config {I}/a_folder --out s.zarr"),
    case("C traceback", "simulate --out an existing store of another config", "simulate --preset csst-small --n 2 --n-test 0 --scheduler sync --out {I}/good.zarr"),
    case("C traceback", "evaluate --n -1", E.replace("--n 1", "--n -1")),
    case("C traceback", "evaluate --n 10^9 (more than the store holds, said)", E.replace("--n 1", "--n 1000000000"),
         "either", must="evaluated all 2"),
    case("C traceback", "evaluate --methods nosuch", E.replace("--methods ks", "--methods nosuch")),
    case("C traceback", "evaluate --methods ''", E.replace("--methods ks", "--methods ''")),
    case("C traceback", "evaluate --option ks.nope=1", f"{E} --option ks.nope=1"),
    case("C traceback", "evaluate --option ks.smooth_arcmin=-1", f"{E} --option ks.smooth_arcmin=-1"),
    case("C traceback", "evaluate --split nosuch", f"{E} --split nosuch"),
    case("C traceback", "evaluate --data a FITS file", E.replace("{I}/good.zarr", "{I}/shear.fits")),
    case("C traceback", "evaluate --data an empty folder", E.replace("{I}/good.zarr", "{I}/empty_folder")),
    case("C traceback", "show --index -1 (the last sample, said)", "show {I}/good.zarr --index -1 -o s.png", "either",
         must="sample 4 of split train"),
    case("C traceback", "show --index 10^6", "show {I}/good.zarr --index 1000000 -o s.png"),
    case("C traceback", "show --split nosuch", "show {I}/good.zarr --split nosuch -o s.png"),
    case("C traceback", "show a FITS file", "show {I}/shear.fits -o s.png"),
    case("C traceback", "show an empty folder", "show {I}/empty_folder -o s.png"),
    case("C traceback", "models list --directory missing", "models list --directory nothing"),
    case("C traceback", "models list --directory a file", "models list --directory {I}/existing.txt"),
    case("C traceback", "models list --directory with broken models", "models list --directory {I}/models", "either",
         must="copy"),
    case("C traceback", "export-onnx -o not .onnx", f"{X} -o m.txt"),
    # ---- D. not in the promised form: usage errors -----------------------------------------------------------
    case("D usage", "--size 12.5", "reconstruct {I}/cat.fits -o k.fits --size 12.5"),
    case("D usage", "--noise-realisations 1e9", f"{RK} --noise-realisations 1e9"),
    case("D usage", "unknown subcommand", "nosuchcommand {I}/shear.fits"),
    case("D usage", "unknown models subcommand", "models nosuch"),
    case("D usage", "missing -o", "reconstruct {I}/shear.fits --method ks"),
    case("D usage", "missing argument", "reconstruct -o k.fits"),
    case("D usage", "-o without a value", "reconstruct {I}/shear.fits -o"),
    case("D usage", "unknown option", f"{RK} --no-such-option"),
    case("D usage", "--seed abc", f"{RK} --seed abc"),
    case("D usage", "--seed 1e400", f"{RK} --seed 1e400"),
    case("D usage", "project missing --z-lens", "project {I}/particles.npz --z-source 1 -o k.fits"),
    case("D usage", "calibrate missing --model", "calibrate --out cal --stream"),
    case("D usage", "show --index abc", "show {I}/good.zarr --index abc -o s.png"),
    case("D usage", "train --epochs 1.5", "train --data {I}/good.zarr --out run --epochs 1.5"),
    case("D usage", "simulate --n abc", "simulate --out s.zarr --n abc"),
    case("D usage", "evaluate --n 9999999999999999999999 (more than the store holds, said)",
         E.replace("--n 1", "--n 9999999999999999999999"), "either", must="evaluated all 2"),
    case("D usage", "extra argument", f"{RK} extra"),
    # ---- E. the README example without a warning ---------------------------------------------------------------
    case("E example", "README example (20 noise realisations, FITS + PNG) without warnings",
         f"reconstruct {EXAMPLE} --noise-realisations 20 -o k.fits --png k.png", "ok", must="wrote",
         check=_is_png("k.png"), timeout=180),
    # ---- Ctrl-C ----------------------------------------------------------------------------------------------
    case("F ctrl-c", "Ctrl-C in reconstruct --noise-realisations 200",
         f"reconstruct {EXAMPLE} --noise-realisations 200 -o k.fits --png k.png", "sigint", sigint=5),
    case("F ctrl-c", "Ctrl-C in train", "train --data {I}/good.zarr --out run --epochs 1000 --batch-size 2 --no-progress",
         "sigint", sigint=5),
    case("F ctrl-c", "Ctrl-C in train, later", "train --data {I}/good.zarr --out run --epochs 1000 --batch-size 2 "
         "--patience 0 --no-progress", "sigint", sigint=15),
    case("F ctrl-c", "Ctrl-C in simulate", "simulate --preset csst-small --n 60 --n-test 0 --scheduler sync --out s.zarr",
         "sigint", sigint=5),
    case("F ctrl-c", "Ctrl-C in evaluate", "evaluate --data {I}/good.zarr --out report --methods wiener,ks --n 2",
         "sigint", sigint=2),
    case("F ctrl-c", "Ctrl-C in calibrate --stream", "calibrate --model {I}/models/copy --stream --n 200 "
         "--sim-config {I}/sim_small.yaml --out cal", "sigint", sigint=5),
]


# ---- running -------------------------------------------------------------------------------------------------


def snapshot(folder: Path) -> dict:
    """Relative path -> content hash (files), 'dir', 'fifo', 'link:target' for everything under ``folder``."""
    out = {}
    if not folder.exists():
        return out
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        st = os.lstat(p)
        if stat.S_ISLNK(st.st_mode):
            out[rel] = "link:" + os.readlink(p)
        elif stat.S_ISDIR(st.st_mode):
            out[rel] = "dir"
        elif stat.S_ISFIFO(st.st_mode):
            out[rel] = "fifo"
        elif stat.S_ISREG(st.st_mode):
            out[rel] = hashlib.sha1(p.read_bytes()).hexdigest()[:12]
        else:
            out[rel] = "special"
    return out


def _being_edited(path: Path) -> bool:
    """Code another engineer may be editing while the cases run (``sphere/``, an editor's ``.X.py.*.tmp``)."""
    rel = path.relative_to(PKG)
    return rel.parts[0] == "sphere" or (".py." in path.name and path.name.endswith(".tmp"))


def package_snapshot() -> dict:
    """The package's files other than code (``.py``, which another editor may be changing meanwhile, and
    ``__pycache__``): hashed, so a new, removed or rewritten model, PNG, FITS or run folder shows."""
    out = {}
    for p in sorted(PKG.rglob("*")):
        if "__pycache__" in p.parts or p.suffix == ".py" or p.is_dir() or _being_edited(p):
            continue
        out[str(p.relative_to(PKG))] = hashlib.sha1(p.read_bytes()).hexdigest()[:12] if p.is_file() else "special"
    for p in sorted(PKG.rglob("*")):  # folders made in the package (a run folder, a store)
        if p.is_dir() and "__pycache__" not in p.parts and not _being_edited(p):
            out[str(p.relative_to(PKG)) + "/"] = "dir"
    return out


def diff(before: dict, after: dict, where: str) -> list[str]:
    changes = []
    for k in sorted(set(before) | set(after)):
        if k not in before:
            changes.append(f"+{where}{k}")
        elif k not in after:
            changes.append(f"-{where}{k}")
        elif before[k] != after[k]:
            changes.append(f"~{where}{k}")
    return changes


def run_case(c: dict, index: int, inputs: Path, work: Path, env: dict) -> dict:
    folder = work / f"case{index:03d}"
    folder.mkdir(parents=True)
    if c["setup"]:
        c["setup"](folder, inputs)
    names = {"I": str(inputs), "PKG": str(PKG), "MODELS": str(MODELS)}
    command = c["cmd"].format(**names)
    argv = shlex.split(command)
    quoted = " ".join(shlex.quote(a) for a in argv)
    before = {"case": snapshot(folder), "inputs": snapshot(inputs), "package": package_snapshot()}
    shell = f"ulimit -v {MEMORY_CAP_KB}; exec {shlex.quote(sys.executable)} -m miu2net {quoted}"
    start = time.time()
    proc = subprocess.Popen(["bash", "-c", shell], cwd=folder, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    timed_out = False
    if c["sigint"]:  # exit -2: killed by SIGINT itself (a shell shows 130), with no error line
        time.sleep(c["sigint"])
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    try:
        stdout, stderr = proc.communicate(timeout=c["timeout"])
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        timed_out = True
    seconds = time.time() - start
    after = {"case": snapshot(folder), "inputs": snapshot(inputs), "package": package_snapshot()}
    created = diff(before["case"], after["case"], "")
    touched = diff(before["inputs"], after["inputs"], "inputs/") + diff(before["package"], after["package"], "pkg/")
    err_lines = [line for line in stderr.splitlines() if line.strip()]
    error_index = next((i for i, line in enumerate(err_lines) if line.startswith("error:")), None)
    n_error_lines = 0 if error_index is None else len(err_lines) - error_index
    n_error_starts = sum(line.startswith("error:") for line in err_lines)
    traceback = "Traceback (most recent call last)" in stdout + stderr
    last_is_error = bool(err_lines) and err_lines[-1].startswith("error:")
    first_error = err_lines[error_index] if error_index is not None else (err_lines[-1] if err_lines else "")
    code = None if timed_out else proc.returncode
    reasons = []

    def refusal_reasons():
        r = []
        if code != 2:
            r.append(f"exit {code}")
        if traceback:
            r.append("traceback")
        if not last_is_error:
            r.append("last stderr line is not 'error:'")
        elif n_error_lines != 1 or n_error_starts != 1:
            r.append(f"error took {n_error_lines} lines ({n_error_starts} 'error:' lines)")
        if created:
            r.append("files left: " + ", ".join(created[:4]))
        if touched:
            r.append("changed: " + ", ".join(touched[:4]))
        return r

    check_failure = None
    if c["check"]:
        try:
            check_failure = c["check"](folder)
        except Exception as exc:
            check_failure = f"check failed: {type(exc).__name__}: {exc}"
    output = stdout + stderr
    if timed_out:
        reasons.append(f"timed out after {c['timeout']} s")
    elif c["expect"] == "refuse":
        reasons += refusal_reasons()
        if check_failure:
            reasons.append(check_failure)
    elif c["expect"] in ("ok", "either"):
        if code == 0 and c["expect"] in ("ok", "either"):
            if traceback:
                reasons.append("traceback")
            if c["must"] and c["must"] not in " ".join(output.split()):
                reasons.append(f"exit 0 without saying {c['must']!r}")
            python_warnings = [line for line in stderr.splitlines() if re.search(r"\w+Warning\b", line)]
            if python_warnings:  # a library's or Python's warning (miu2net's own advice is a `warning:` line)
                reasons.append("warning: " + python_warnings[0][:120])
            if touched:
                reasons.append("changed: " + ", ".join(touched[:4]))
            if check_failure:
                reasons.append(check_failure)
        elif c["expect"] == "either":
            reasons += refusal_reasons()
            if c["check"] and check_failure and "no CRVAL1" not in check_failure and "No such file" not in check_failure \
                    and "not PNG" not in check_failure:
                reasons.append(check_failure)
        else:
            reasons.append(f"exit {code}, expected 0")
            if traceback:
                reasons.append("traceback")
    elif c["expect"] == "sigint":
        if code != 130:
            reasons.append(f"exit {code}, expected 130")
        if traceback:
            reasons.append("traceback")
        if not last_is_error or n_error_starts != 1 or n_error_lines != 1:
            reasons.append("not one 'error:' line")
        if touched:
            reasons.append("changed: " + ", ".join(touched[:4]))
        says_nothing = "nothing was written" in output
        leftovers = [x for x in created if not x.startswith("+run/lightning_logs")]
        if says_nothing and created:
            reasons.append("says nothing was written but left: " + ", ".join(created[:4]))
        elif not says_nothing and "resume" not in output and "kept" not in output and leftovers:
            reasons.append("left files without saying what: " + ", ".join(leftovers[:4]))
        partial = [x for x in created if x.endswith((".tmp", ".part")) or ".miu2net-" in x]
        if partial:
            reasons.append("partial files: " + ", ".join(partial[:4]))
    verdict = "OK" if not reasons else "FAIL"
    shutil.rmtree(folder, ignore_errors=True)
    return {"index": index, "class": c["cls"], "case": c["name"], "command": f"python -m miu2net {command}",
            "expect": c["expect"], "exit": code, "traceback": traceback, "last_line_error": last_is_error,
            "error_lines": n_error_lines, "first_error": first_error, "files": created + touched,
            "verdict": verdict, "reasons": reasons, "seconds": round(seconds, 1),
            "stderr_tail": "\n".join(err_lines[-6:])}


def cell(text: str, limit: int = 140) -> str:
    text = " ".join(str(text).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("|", "\\|")


def markdown(results: list[dict], argv: str, total: float) -> str:
    n_ok = sum(r["verdict"] == "OK" for r in results)
    classes = sorted({r["class"] for r in results})
    lines = [f"# Hostile inputs (issue 24): {n_ok}/{len(results)} OK", "",
             f"Made by `{argv}` in {total / 60:.1f} min (cases run sequentially, each `python -m miu2net ...` in a "
             f"fresh folder, {TIMEOUT} s timeout, `ulimit -v {MEMORY_CAP_KB}`).", "",
             "Verdict: OK is the promised behaviour (refusals: exit 2, one `error:` line, no traceback, nothing "
             "written or changed; `either`: that or exit 0 with the result checked; `ok`: exit 0 saying what was "
             "done; Ctrl-C: exit 130, one line, nothing partial). Files: `+` created, `-` removed, `~` changed "
             "(case folder, `inputs/`, `pkg/` = src/miu2net).", "",
             "| class | cases | OK |", "|---|---|---|"]
    for k in classes:
        rs = [r for r in results if r["class"] == k]
        lines.append(f"| {k} | {len(rs)} | {sum(r['verdict'] == 'OK' for r in rs)} |")
    lines += ["", "| # | case | command | exit | first error line | files | verdict | time (s) |",
              "|---|---|---|---|---|---|---|---|"]
    for r in results:
        verdict = r["verdict"] if not r["reasons"] else f"**FAIL**: {'; '.join(r['reasons'])}"
        command = r["command"].replace("python -m miu2net ", "")
        lines.append(f"| {r['index']} | {cell(r['case'], 60)} | `{cell(command, 120)}` | {r['exit']} | "
                     f"{cell(r['first_error'], 120)} | {cell(', '.join(r['files']) or '-', 80)} | {cell(verdict, 200)} | "
                     f"{r['seconds']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "hostile_inputs")
    parser.add_argument("--only", default=None, help="run only the cases whose name contains this text")
    parser.add_argument("--cases", default=None, help="run only the cases FIRST:LAST (indices, LAST excluded)")
    parser.add_argument("--update", default=None, help="rerun these case indices (comma-separated) and replace them "
                        "in the results files")
    args = parser.parse_args()
    env = {"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin", "COLUMNS": "80", "LANG": "C.UTF-8",
           "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "2", "MPLBACKEND": "Agg"}
    start = time.time()
    results = []
    with tempfile.TemporaryDirectory(prefix="hostile-") as tmp:
        inputs = Path(tmp) / "inputs"
        inputs.mkdir()
        env["HOME"] = tmp
        make_inputs(inputs, env)
        print(f"inputs ready in {time.time() - start:.0f} s", flush=True)
        work = Path(tmp) / "work" / "cases"
        for i, c in enumerate(CASES):
            if args.only and args.only not in c["name"]:
                continue
            if args.cases and not int(args.cases.split(":")[0]) <= i < int(args.cases.split(":")[1]):
                continue
            if args.update and i not in {int(v) for v in args.update.split(",")}:
                continue
            r = run_case(c, i, inputs, work, env)
            results.append(r)
            print(f"[{i:3d}] {r['verdict']:4s} {r['seconds']:5.1f}s exit={r['exit']} {c['name']}"
                  + (f"  <- {'; '.join(r['reasons'])}" if r["reasons"] else ""), flush=True)
    total = time.time() - start
    argv = "nice python benchmarks/hostile_inputs.py"
    if args.update:  # the full run's results, with these cases rerun
        old = json.loads(args.out.with_suffix(".json").read_text())
        new = {r["index"]: r for r in results}
        results = [new.get(r["index"], r) for r in old["cases"]]
        argv = f"{old['command']}, then {argv} --update {args.update}"
        total = old["seconds"] + total
    if not (args.only or args.cases):
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".md").write_text(markdown(results, argv, total))
        args.out.with_suffix(".json").write_text(json.dumps({"command": argv, "seconds": round(total, 1),
                                                             "n_cases": len(results),
                                                             "n_ok": sum(r["verdict"] == "OK" for r in results),
                                                             "cases": results}, indent=1) + "\n")
    print(f"{sum(r['verdict'] == 'OK' for r in results)}/{len(results)} OK in {total / 60:.1f} min")


if __name__ == "__main__":
    main()
