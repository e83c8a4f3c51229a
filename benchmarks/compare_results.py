"""Are two benchmark results the same numbers? Every value of two result JSON files, timings aside.

    python benchmarks/compare_results.py BEFORE.json AFTER.json

Walks both files together and prints every number that differs (keys naming seconds, times, the
command, the commit, paths and dates are skipped: they differ between any two runs). Exits 1 when a
number differs or a key is missing, 0 when all agree exactly. Used to show that a refactoring left the
benchmark protocol's numbers unchanged, e.g. ``quality.py --preset csst-small --n 100 --out A`` on the
old commit and ``--out B`` on the new one, then ``compare_results.py A/metrics.json B/metrics.json``.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

SKIP = ("second", "time", "command", "commit", "created", "data", "path", "date")


def differences(a: Any, b: Any, where: str = "") -> list[str]:
    """Human-readable differences between two parsed JSON values (module docstring)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            if any(word in key.lower() for word in SKIP):
                continue
            if key not in a or key not in b:
                out.append(f"{where}/{key}: only in {'the second' if key not in a else 'the first'}")
                continue
            out += differences(a[key], b[key], f"{where}/{key}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{where}: lengths {len(a)} and {len(b)}"]
        return [d for i, (u, v) in enumerate(zip(a, b)) for d in differences(u, v, f"{where}[{i}]")]
    both_nan = isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)
    return [] if a == b or both_nan else [f"{where}: {a!r} != {b!r}"]


def main() -> None:
    first, second = (json.loads(Path(p).read_text()) for p in sys.argv[1:3])
    found = differences(first, second)
    for line in found:
        print(line)
    print(f"{len(found)} difference(s)")
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
