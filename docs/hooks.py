"""MkDocs hook: numbers in the docs come from the files that write them, rendered at build time.

Markers in a page (HTML comments, so the raw Markdown on a code host shows nothing stray):

* ``<!-- miu2net:model-cards -->``: one table of the shipped models, read from their cards
  ``src/miu2net/models/*.json`` (name, architecture, parameters, pixel, tile, inputs, outputs, training
  maps seen, hardware, calibration, validation).
* ``<!-- miu2net:options METHOD -->``: the options of ``src/miu2net/methods/METHOD.py``: the names its
  ``METHOD`` object declares and the default and first sentence of each ``Args:`` entry of its
  ``reconstruct`` (read with :mod:`ast`), with the kind and range or choices of the option table
  ``miu2net.methods.base.OPTIONS`` (imported: the one declaration the methods are checked by).
* ``<!-- miu2net:json PATH [KEY.KEY...] [cols=A,B,...] -->``: a results JSON file (relative to the
  repository root), or the part of it under the dotted key path, as a table (see :func:`render_json`);
  ``cols=`` (the rest of the marker, comma-separated, spaces allowed in names) picks the columns.

A marker naming a file that does not exist fails the build (``tests/test_docs.py`` checks the same).
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "src" / "miu2net" / "models"
METHODS = ROOT / "src" / "miu2net" / "methods"

MARKER = re.compile(r"<!--\s*miu2net:(?P<kind>model-cards|options|json)(?P<args>[^>]*?)-->")


class MarkerError(RuntimeError):
    """A marker the hook cannot render (a missing file or key): the build stops."""


# --------------------------------------------------------------------------------------------- helpers


def _fmt(value) -> str:
    """A table cell: numbers as written in the file (floats to 4 significant digits), lists joined."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        if len(value) > 12:
            return f"[{len(value)} values]"
        return ", ".join(_fmt(v) for v in value)
    if value is None:
        return "–"
    text = str(value).replace("|", "\\|").replace("\n", " ")
    return text


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _flatten(value, prefix: str = "") -> list[tuple[str, object]]:
    if isinstance(value, dict):
        out: list[tuple[str, object]] = []
        for key, item in value.items():
            out += _flatten(item, f"{prefix}.{key}" if prefix else str(key))
        return out
    return [(prefix, value)]


# ----------------------------------------------------------------------------------------- model cards


def _maps_seen(card: dict) -> str:
    trained = card.get("notes", {}).get("trained", {})
    if "maps_seen_total" in trained:
        return f"{trained['maps_seen_total']:,} in all ({trained.get('maps_seen', 0):,} in the last run)"
    config = card.get("notes", {}).get("train_config", {})
    stream = config.get("stream") or {}
    epochs = card.get("metrics", {}).get("epochs_trained")
    if epochs and stream.get("steps_per_epoch") and config.get("batch_size"):
        seen = epochs * stream["steps_per_epoch"] * config["batch_size"]
        return f"{seen:,} (epochs × steps per epoch × batch)"
    return "–"


def _calibration(card: dict) -> str:
    cal = card.get("calibration")
    if not cal:
        return "none"
    cover = cal.get("empirical_coverage", {}).get("all", {})
    noise_bins = len(cal.get("noise_edges", [])) + 1 if cal.get("noise_edges") else 1
    chi2 = cal.get("chi2dof", {}).get("range")
    parts = [f"{cal.get('method', '?')} on {cal.get('n_maps', '?')} maps ({cal.get('data', {}).get('kind', '?')})",
             f"{noise_bins} noise bin(s)"]
    if cover:
        parts.append("coverage on its own maps " + ", ".join(f"{k}: {v:.3f}" for k, v in cover.items()))
    if chi2:
        parts.append(f"CHI2DOF range {chi2[0]:.3f}–{chi2[1]:.3f}")
    return "; ".join(parts)


def render_model_cards() -> str:
    # The default model first, then the rest by name.
    cards = sorted(MODELS.glob("*.json"), key=lambda p: (p.stem != "miu2net-csst", p.stem))
    if not cards:
        raise MarkerError(f"no model cards in {MODELS}")
    rows = []
    for path in cards:
        card = json.loads(path.read_text())
        trained = card.get("notes", {}).get("trained", {})
        metrics = card.get("metrics", {})
        survey = card.get("survey") or {}
        stream = survey.get("stream") or {}
        mixture = stream.get("mixture")
        skies = ", ".join(f"{k} {v:g}" for k, v in mixture.items()) if mixture else "halo model"
        rows.append([
            f"`{path.stem}`",
            f"{card['arch']}" + (" (residual)" if card.get("arch_kwargs", {}).get("residual") else ""),
            f"{card.get('n_parameters', 0):,}",
            f"{card['pixel_arcmin']:g}′",
            "×".join(str(n) for n in card["map_size"]),
            ", ".join(card.get("inputs", [])),
            str(card.get("out_channels")),
            f"{survey.get('name', '–')}; n_gal {_fmt(stream.get('n_gal_arcmin2'))} /arcmin²; skies: {skies}",
            _maps_seen(card),
            _fmt(trained.get("hardware")),
            _calibration(card),
            f"val_rmse {metrics.get('val_rmse', float('nan')):.5f}, val_pearson "
            f"{metrics.get('val_pearson', float('nan')):.3f} (epoch {metrics.get('best_epoch', '?')})",
        ])
    header = ["model", "architecture", "parameters", "pixel", "tile", "inputs", "outputs", "training data",
              "training maps seen", "trained on", "calibration", "validation (best epoch)"]
    # One row per model is too wide for a page: show one two-column table per model instead.
    out = []
    for row in rows:
        out.append(f"### {row[0].strip('`')}\n\n")
        out.append(_table(["card field", "value"], [[h, v] for h, v in zip(header[1:], row[1:])]))
        out.append(f"\nSource: `src/miu2net/models/{row[0].strip('`')}.json`.\n\n")
    return "".join(out)


# --------------------------------------------------------------------------------------- method options


def _literal_constants() -> dict[str, str]:
    """Module-level ``NAME = literal`` assignments of the methods package (for defaults given by name)."""
    constants: dict[str, str] = {}
    for path in METHODS.glob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                try:
                    constants[node.targets[0].id] = repr(ast.literal_eval(node.value))
                except ValueError:
                    pass
    return constants


def _option_kinds() -> dict[str, str]:
    """The shared option table (``miu2net.methods.base.OPTIONS``): name -> 'kind, range or choices'."""
    from miu2net.methods.base import OPTIONS

    kinds = {}
    for name, option in OPTIONS.items():
        low, high = option.low, option.high
        rng = ""
        if low is not None or high is not None:
            left = ("(" if option.low_open else "[") + (f"{low:g}" if low is not None else "−∞")
            right = (f"{high:g}" if high is not None else "∞") + (")" if option.high_open or high is None else "]")
            rng = f" in {left}, {right}"
        if option.choices:
            rng = " of " + ", ".join(f"`{c}`" for c in option.choices)
        kinds[name] = option.kind + rng + (", or None" if option.optional else "")
    return kinds


def _args_section(doc: str) -> dict[str, str]:
    """Google-style ``Args:`` entries of a docstring: name -> first sentence of its text."""
    entries: dict[str, str] = {}
    match = re.search(r"^Args:\n(?P<body>(?:[ \t]+.*\n?|\n)+)", doc, re.M)
    if not match:
        return entries
    current = None
    for line in match.group("body").splitlines():
        item = re.match(r"^    (\w+(?:, \w+)*):\s*(.*)$", line)
        if item:
            current = [n.strip() for n in item.group(1).split(",")]
            for name in current:
                entries[name] = item.group(2)
        elif current and line.startswith("        "):
            for name in current:
                entries[name] += " " + line.strip()
        elif line.strip() == "":
            continue
        else:
            break
    for name, text in entries.items():
        sentence = re.split(r"(?<=\.)\s+(?=[A-Z])", text.strip(), maxsplit=1)[0]
        entries[name] = _rst_to_md(sentence)
    return entries


def _rst_to_md(text: str) -> str:
    """Sphinx roles and double back-quotes of a docstring as Markdown code."""
    text = re.sub(r":(?:mod|class|func|data|meth|attr):`~?\.?([^`]+)`", r"`\1`", text)
    text = re.sub(r":math:`([^`]+)`", r"`\1`", text)
    return text.replace("``", "`")


def render_options(method: str) -> str:
    path = METHODS / f"{method}.py"
    if not path.exists():
        raise MarkerError(f"no method module {path}")
    tree = ast.parse(path.read_text())
    declared: list[str] | None = None
    defaults: dict[str, str] = {}
    docs: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "METHOD" for t in node.targets):
            for call in ast.walk(node.value):
                if isinstance(call, ast.Call) and getattr(call.func, "id", "") == "options":
                    declared = [ast.literal_eval(a) for a in call.args]
        if isinstance(node, ast.FunctionDef) and node.name == "reconstruct":
            args = node.args
            for arg, default in zip(args.kwonlyargs, args.kw_defaults):
                defaults[arg.arg] = ast.unparse(default) if default is not None else "required"
            docs = _args_section(ast.get_docstring(node) or "")
    if declared is None:
        raise MarkerError(f"{path}: no METHOD = ...(options(...)) declaration")
    kinds, constants = _option_kinds(), _literal_constants()
    rows = []
    for name in declared:
        default = defaults.get(name, "–")
        if default in constants:
            default = f"{constants[default]} (`{default}`)"
        elif default not in ("–", "required"):
            default = f"`{default}`"
        rows.append([f"`{name}`", kinds.get(name, "?"), default, _fmt(docs.get(name, ""))])
    return _table(["option", "kind and range", "default", "what (from the docstring)"], rows)


# -------------------------------------------------------------------------------------------- JSON files


def render_json(args: str) -> str:
    """``PATH [KEY.KEY...] [cols=A,B,...]``: the file, or its part under the key path, as a table.

    A list of dicts, or a dict of dicts, is one row per item (``cols=`` picks and orders the columns); a
    dict of equal-length lists is one column per list; anything else a table of flattened keys and values.
    """
    args, _, col_text = args.partition("cols=")
    parts = args.split()
    cols = [[c.strip() for c in col_text.split(",")]] if col_text.strip() else []
    if not parts:
        raise MarkerError("miu2net:json needs a path")
    path = ROOT / parts[0]
    if not path.exists():
        raise MarkerError(f"results file {parts[0]} does not exist")
    data = json.loads(path.read_text())
    for key in parts[1].split(".") if len(parts) > 1 else []:
        if isinstance(data, list):
            data = data[int(key)]
        elif key in data:
            data = data[key]
        else:
            raise MarkerError(f"{parts[0]}: no key {key!r}")
    source = f"\nSource: `{parts[0]}`" + (f", key `{parts[1]}`" if len(parts) > 1 else "") + ".\n"
    if isinstance(data, dict) and data and all(isinstance(v, dict) for v in data.values()):
        data = [{"": name, **dict(_flatten(item))} for name, item in data.items()]
    if isinstance(data, list) and data and all(isinstance(row, dict) for row in data):
        rows = [dict(_flatten(row)) for row in data]
        header = list(dict.fromkeys(k for row in rows for k in row))
        if cols:
            header = ([""] if "" in header else []) + cols[0]
        body = [[_fmt(row.get(h)) for h in header] for row in rows]
        return _table(header, body) + source
    if isinstance(data, dict) and data:
        header = cols[0] if cols else list(data)
        missing = [h for h in header if h not in data]
        if missing:
            raise MarkerError(f"{parts[0]}: no key(s) {', '.join(missing)}")
        columns = [data[h] for h in header]
        if all(isinstance(c, list) for c in columns) and len({len(c) for c in columns}) == 1:
            body = [[_fmt(c[i]) for c in columns] for i in range(len(columns[0]))]
            return _table(header, body) + source
        if cols:
            data = {h: data[h] for h in header}
    body = [[f"`{k}`", _fmt(v)] for k, v in _flatten(data)]
    return _table(["key", "value"], body) + source


# -------------------------------------------------------------------------------------------------- hook


def render(markdown: str) -> str:
    """Replace every marker of ``markdown`` by its table."""

    def one(match: re.Match) -> str:
        kind, args = match.group("kind"), match.group("args").strip()
        if kind == "model-cards":
            return render_model_cards()
        if kind == "options":
            return render_options(args)
        return render_json(args)

    return MARKER.sub(one, markdown)


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ARG001 (MkDocs hook signature)
    return render(markdown)
