"""Small helpers shared by the benchmarks in bench/: settings from the
environment, progress lines on stderr, percentiles and text tables."""

import os
import sys
import time


def env_int(name, default):
    v = os.environ.get(name)
    return int(v) if v not in (None, "") else default


def env_list(name, default):
    """A comma- or space-separated list of integers."""
    v = os.environ.get(name)
    v = default if v in (None, "") else v
    return [int(x) for x in v.replace(" ", ",").split(",") if x != ""]


def log(*a):
    print("[bench %s]" % time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def pct(values, p):
    """Nearest-rank percentile."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def table(title, header, rows, note=None):
    """A text table: the first column left-aligned, the others right-aligned."""
    cells = [list(map(str, header))] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    line = "+-" + "-+-".join("-" * w for w in widths) + "-+"
    out = ["", "== %s ==" % title, line]
    for n, r in enumerate(cells):
        out.append("| " + " | ".join(c.rjust(w) if n and i else c.ljust(w)
                                     for i, (c, w) in enumerate(zip(r, widths))) + " |")
        if n == 0:
            out.append(line)
    out.append(line)
    if note:
        out.append(note)
    return "\n".join(out)
