"""Issue 15's bad inputs, run against two source trees: exit code and message before and after.

Usage (the table in ``benchmarks/results/bad_inputs_before_after.md`` came from)::

    git worktree add --detach /tmp/wt15base 692d894
    python benchmarks/bad_inputs_before_after.py --before /tmp/wt15base --after . \
        --out benchmarks/results/bad_inputs_before_after.md

Each case runs ``python -m miu2net ...`` in a fresh folder per tree, with PYTHONPATH at the tree's
``src`` and the address space capped (``ulimit -v``, 8 GB) so that the cases that allocated tens of GB
before (``--size 20000``, ``out_channels`` = 10⁶) fail fast with MemoryError instead of taking the
machine; the issue's own observation (killed by the kernel at 22 GB after 145 s) is quoted beside
them. For each case the table shows the exit code, the message (the ``error:`` line, else the last
line of a traceback, else the line that matters) and what happened to the files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from astropy.io import fits

MEMORY_CAP_KB = 8_000_000
EXAMPLE = "examples/merging_pair_catalogue.fits"


def make_inputs(folder: Path, tree: Path) -> None:
    """The files every case reads, written into ``folder``."""
    rng = np.random.default_rng(15)
    n = 64
    hdus = [fits.PrimaryHDU()]
    hdus[0].header["PIXSCALE"] = 0.82
    for name, data in (("G1", 0.05 * rng.standard_normal((n, n))), ("G2", 0.05 * rng.standard_normal((n, n))),
                       ("MASK", np.ones((n, n))), ("NOISE", np.full((n, n), 0.05))):
        hdus.append(fits.ImageHDU(data, name=name))
    fits.HDUList(hdus).writeto(folder / "IN.fits")
    raw = (folder / "IN.fits").read_bytes()
    (folder / "truncated.fits").write_bytes(raw[: len(raw) - 20000])
    shutil.copyfile(tree / EXAMPLE, folder / "cat.fits")
    with fits.open(folder / "cat.fits") as hdul:
        table = hdul[1].data
        one = fits.BinTableHDU(table[:1])
        one.writeto(folder / "one.fits")
        bad_e = table.copy()
        bad_e["e1"][:25] = 1.5
        fits.BinTableHDU(bad_e).writeto(folder / "e_ge_1.fits")
        neg = table.copy()
        neg["ra"] = neg["ra"] - 160.0  # the field moved to RA ~ -10 deg
        fits.BinTableHDU(neg).writeto(folder / "ra_minus10.fits")
        far = table.copy()
        far["ra"] = far["ra"] + 220.0  # RA ~ 370 deg
        fits.BinTableHDU(far).writeto(folder / "ra_370.fits")
    (folder / "outdir").mkdir()
    (folder / "existing.txt").write_text("x")
    models = tree / "src/miu2net/models"
    for name in ("pixel_x", "nan_weights", "huge"):
        shutil.copyfile(models / "miu2net-csst-quick.safetensors", folder / f"{name}.safetensors")
        shutil.copyfile(models / "miu2net-csst-quick.json", folder / f"{name}.json")
    config = json.loads((folder / "pixel_x.json").read_text())
    config["pixel_arcmin"] = "x"
    (folder / "pixel_x.json").write_text(json.dumps(config))
    config = json.loads((folder / "huge.json").read_text())
    config.setdefault("arch_kwargs", {})["out_channels"] = 1_000_000
    (folder / "huge.json").write_text(json.dumps(config))
    from safetensors.numpy import load_file, save_file

    state = load_file(str(folder / "nan_weights.safetensors"))
    state = {k: np.full_like(v, np.nan) if v.dtype.kind == "f" else v for k, v in state.items()}
    save_file(state, str(folder / "nan_weights.safetensors"), metadata={"format": "miu2net-model"})
    with fits.open(folder / "IN.fits") as hdul:  # the shipped model's size: 128² of 0.82'
        big = fits.HDUList([fits.PrimaryHDU(header=hdul[0].header)]
                           + [fits.ImageHDU(np.tile(h.data, (2, 2)), name=h.name) for h in hdul[1:]])
        big.writeto(folder / "IN128.fits")


R = "reconstruct"
# (label, command after `python -m miu2net`, what to inspect afterwards)
CASES = [
    ("-o onto the input", f"{R} IN.fits -o IN.fits", "input"),
    ("calibrate a shipped model (no --out)", "calibrate --model miu2net-csst-quick --data A.zarr --n 4", "shipped"),
    ("truncated FITS", f"{R} truncated.fits -o k.fits", ""),
    ("--option smooth_arcmin=abc", f"{R} IN.fits -o k.fits --method ks --option smooth_arcmin=abc", ""),
    ("--size 100000", f"{R} cat.fits -o k.fits --size 100000", ""),
    ("--size 20000", f"{R} cat.fits -o k.fits --size 20000", ""),
    ("model JSON pixel_arcmin \"x\" (issue 14)", f"{R} IN128.fits -o k.fits --method miu2net --option model=pixel_x", ""),
    ("model with NaN weights (issue 14)", f"{R} IN128.fits -o k.fits --method miu2net --option model=nan_weights", ""),
    ("model JSON out_channels 10^6 (issue 14)", f"{R} IN128.fits -o k.fits --method miu2net --option model=huge", ""),
    ("--png into a missing folder", f"{R} IN.fits -o k.fits --png missing/k.png --method ks", "k.fits"),
    ("evaluate --out onto an existing file", "evaluate --data A.zarr --out existing.txt --methods ks --n 2", ""),
    ("-o onto an existing directory", f"{R} IN.fits -o outdir --method ks", ""),
    ("rows with |e| >= 1 (25 of them)", f"{R} e_ge_1.fits -o k.fits --size 128 --method ks", ""),
    ("--smooth -2", f"{R} IN.fits -o k.fits --method ks --smooth -2", ""),
    ("one-galaxy catalogue", f"{R} one.fits -o k.fits", ""),
    ("simulate --n 0 --n-test 0", "simulate --out empty.zarr --preset csst-small --n 0 --n-test 0 --scheduler sync",
     "empty.zarr"),
    ("ra = -10 (field at RA -10..-9)", f"{R} ra_minus10.fits -o k.fits --size 128 --method ks", ""),
    ("ra = 370", f"{R} ra_370.fits -o k.fits --size 128 --method ks", ""),
    ("--pixel-arcmin nan", f"{R} cat.fits -o k.fits --pixel-arcmin nan", ""),
    ("README example without --size (auto's advice)", f"{R} cat.fits -o k.fits", ""),
    ("help: catalogue column of RA (80 columns)", f"{R} --help", "help"),
    ("models list at 80 columns", "models list", "models"),
]


def digest(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()[:10] if path.exists() else "absent"


def message(output: str, kind: str) -> str:
    """The line of the output that says what happened."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    if kind == "help":
        import re

        text = " ".join(re.sub(r"[│╭╮╰╯─]", " ", output).split())
        hit = re.search(r"Catalogue column of RA[^.]*\.", text)
        return hit.group(0) if hit else "(no such line)"
    if kind == "models":
        hits = [line for line in lines if "csst" in line]
        return " / ".join(h.strip("│ ") for h in hits[:2])
    for line in lines:
        if line.startswith("error:") or line.startswith("Error") or "Missing option" in line:
            return line
    trace = [line for line in lines if "Error" in line and not line.startswith("File")]
    if any(line.startswith("Traceback") for line in lines) and trace:
        return "Traceback … " + trace[-1]
    useful = [line for line in lines if line.startswith(("method auto", "wrote", "Killed"))]
    return " ".join(useful) if useful else (lines[-1] if lines else "(no output)")


def run_case(tree: Path, folder: Path, label: str, command: str, inspect: str) -> dict:
    shipped = tree / "src/miu2net/models/miu2net-csst-quick.json"
    before = {"input": digest(folder / "IN.fits"), "shipped": digest(shipped)}
    env = {"PYTHONPATH": str(tree / "src"), "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
           "COLUMNS": "80", "HOME": str(folder)}
    start = time.time()
    proc = subprocess.run(["bash", "-c", f"ulimit -v {MEMORY_CAP_KB}; exec {sys.executable} -m miu2net {command}"],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    seconds = time.time() - start
    output = proc.stdout + "\n" + proc.stderr
    notes = []
    if inspect == "input" and digest(folder / "IN.fits") != before["input"]:
        notes.append("input overwritten")
    if inspect == "shipped" and digest(shipped) != before["shipped"]:
        notes.append("shipped model JSON rewritten")
        subprocess.run(["git", "-C", str(tree), "checkout", "--", str(shipped)], check=False)
    if inspect in ("k.fits", "empty.zarr") and (folder / inspect).exists():
        notes.append(f"{inspect} left behind")
        shutil.rmtree(folder / inspect) if (folder / inspect).is_dir() else (folder / inspect).unlink()
    if (folder / "k.fits").exists():
        (folder / "k.fits").unlink()
    return {"case": label, "exit": proc.returncode, "message": message(output, inspect), "notes": notes,
            "seconds": round(seconds, 1)}


def make_store(tree: Path, folder: Path) -> None:
    """A tiny store (12 training + validation, 2 test maps of csst-small) for calibrate and evaluate."""
    env = {"PYTHONPATH": str(tree / "src"), "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin"}
    subprocess.run([sys.executable, "-m", "miu2net", "simulate", "--out", "A.zarr", "--preset", "csst-small",
                    "--n", "12", "--n-test", "2", "--scheduler", "sync"], cwd=folder, env=env, check=True,
                   capture_output=True)


def run_tree(tree: Path) -> list[dict]:
    """Every case in its own fresh copy of the inputs (a case that overwrites one cannot spoil the next)."""
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        pristine = Path(tmp) / "pristine"
        pristine.mkdir()
        make_inputs(pristine, tree)
        make_store(tree, pristine)
        for i, case in enumerate(CASES):
            folder = Path(tmp) / f"case{i}"
            shutil.copytree(pristine, folder)
            results.append(run_case(tree, folder, *case))
            shutil.rmtree(folder)
    return results


def cell(text: str, limit: int = 330) -> str:
    """Markdown-safe table cell; a long message keeps its start and its end (where the advice is)."""
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit // 2 - 10] + " … " + text[-(limit // 2):]
    return text.replace("|", "\\|")


def markdown(before: list[dict], after: list[dict], commits: tuple[str, str]) -> str:
    head = [f"# Issue 15: bad inputs before ({commits[0]}) and after ({commits[1]})", "",
            "Made by `python benchmarks/bad_inputs_before_after.py --before /tmp/wt15base --after . "
            "--out benchmarks/results/bad_inputs_before_after.md` (address space capped at 8 GB, so "
            "allocations of tens of GB fail fast as MemoryError; on main without a cap `--size 20000` was "
            "killed by the kernel at 22 GB after 145 s, issue 15). Files: what happened to inputs and outputs.", "",
            "| case | before: exit | before: message | after: exit | after: message |", "|---|---|---|---|---|"]
    rows = []
    for b, a in zip(before, after):
        bnote = f" **[{'; '.join(b['notes'])}]**" if b["notes"] else ""
        anote = f" **[{'; '.join(a['notes'])}]**" if a["notes"] else ""
        rows.append(f"| {cell(b['case'])} | {b['exit']} | {cell(b['message'])}{bnote} ({b['seconds']} s) | "
                    f"{a['exit']} | {cell(a['message'])}{anote} ({a['seconds']} s) |")
    return "\n".join(head + rows) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True)
    parser.add_argument("--after", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    commits = tuple(subprocess.run(["git", "-C", str(t), "rev-parse", "--short", "HEAD"], capture_output=True,
                                   text=True).stdout.strip() for t in (args.before, args.after))
    before = run_tree(args.before.resolve())
    after = run_tree(args.after.resolve())
    args.out.write_text(markdown(before, after, commits))
    (args.out.with_suffix(".json")).write_text(json.dumps({"before": before, "after": after, "commits": commits},
                                                          indent=1) + "\n")
    print(args.out.read_text())


if __name__ == "__main__":
    main()
