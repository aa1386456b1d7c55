"""Before/after: `check` of the medium corpus (2,000 worker types, 80,000
launch specs) with two amiset binaries, runs interleaved so that both see
the same machine load; prints each median and the ratio after/before.

Usage: python scripts/bench_compare.py BEFORE AFTER [RUNS]
(build both with `cargo build --release`; the corpus comes from
target/release/examples/corpus, as in scripts/bench).
"""

import statistics
import sys
import tempfile
from pathlib import Path

from bench import corpus, run_once


def main():
    before, after = Path(sys.argv[1]), Path(sys.argv[2])
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 15
    with tempfile.TemporaryDirectory(prefix="amiset-compare-") as tmp:
        medium = Path(tmp) / "medium"
        corpus(medium, "medium")
        times = {"before": [], "after": []}
        for binary in (before, after):  # warm the page cache
            run_once([binary, "check", medium])
        for _ in range(runs):
            times["before"].append(run_once([before, "check", medium])[0])
            times["after"].append(run_once([after, "check", medium])[0])
    b, a = statistics.median(times["before"]), statistics.median(times["after"])
    spread = {k: (min(v) * 1000, max(v) * 1000) for k, v in times.items()}
    print(f"check medium, {runs} interleaved runs each")
    print(f"| binary | median | min–max |\n| --- | --- | --- |")
    print(f"| before | {b * 1000:.1f} ms | {spread['before'][0]:.1f}–{spread['before'][1]:.1f} ms |")
    print(f"| after | {a * 1000:.1f} ms | {spread['after'][0]:.1f}–{spread['after'][1]:.1f} ms |")
    print(f"after/before: {a / b:.3f}x")


if __name__ == "__main__":
    main()
