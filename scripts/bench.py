"""Benchmarks for amiset: every number is a median of several runs, and every
target is a ratio against a baseline measured in this same run, because the
machines are noisy. Run through scripts/bench, which builds release first."""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release"
AMISET = TARGET / "amiset"
QUICK = "--quick" in sys.argv
RUNS = 3 if QUICK else 7


def run_once(cmd, cwd=None, ok=(0,)):
    """Runs cmd; returns (seconds, peak RSS in MiB) of that process alone."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in ok:
        err = proc.stderr.read().decode(errors="replace")
        sys.exit(f"{' '.join(map(str, cmd))} exited {code}: {err[-2000:]}")
    return elapsed, usage.ru_maxrss / 1024


def measure(cmd, cwd=None, ok=(0,), runs=RUNS):
    samples = [run_once(cmd, cwd, ok) for _ in range(runs)]
    return statistics.median(s[0] for s in samples), max(s[1] for s in samples)


def corpus(dir, preset, seed=0):
    subprocess.run([TARGET / "examples" / "corpus", dir, "--preset", preset, "--seed", str(seed)], check=True, stdout=subprocess.DEVNULL)


def git(cwd, *args):
    env = dict(os.environ, GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@example.com", GIT_COMMITTER_NAME="b",
               GIT_COMMITTER_EMAIL="b@example.com", GIT_CONFIG_GLOBAL="/dev/null")
    subprocess.run(["git", *args], cwd=cwd, check=True, env=env, stdout=subprocess.DEVNULL)


rows = []


def row(name, seconds, baseline_name=None, baseline=None, rss=None, target=""):
    ratio = f"{seconds / baseline:.2f}x {baseline_name}" if baseline else ""
    rss_text = f"{rss:.0f} MiB" if rss is not None else ""
    rows.append((name, f"{seconds * 1000:.1f} ms", ratio, rss_text, target))
    print(f"  {name}: {seconds * 1000:.1f} ms {ratio} {rss_text}", file=sys.stderr, flush=True)


def main():
    tmp = Path(tempfile.mkdtemp(prefix="amiset-bench-"))
    try:
        example = ROOT / "config-example"
        # Pre-commit latency: check --staged of config-example in this repository.
        t, _ = measure([AMISET, "check", "--staged", "config-example"], cwd=ROOT)
        row("check --staged config-example", t, target="< 50 ms")
        t, _ = measure([AMISET, "check", example])
        row("check config-example", t, target="< 50 ms")

        medium, large = tmp / "medium", tmp / "large"
        corpus(medium, "medium")
        corpus(large, "large")
        floor_m, _ = measure([TARGET / "examples" / "parse_floor", medium])
        row("read+parse medium (floor)", floor_m)
        t, rss = measure([AMISET, "check", medium])
        row("check medium", t, "read+parse", floor_m, rss, "<= 2x read+parse")
        check_medium = t

        venv_bin = ROOT / ".venv" / "bin" / "check-jsonschema"
        def cj():
            for kind, sub in (("worker-type", "worker-types"), ("ami-set", "ami-sets")):
                files = sorted(str(p) for p in (medium / sub).iterdir())
                subprocess.run([venv_bin, "--schemafile", ROOT / "schemas" / f"{kind}.schema.json", *files],
                               check=True, stdout=subprocess.DEVNULL)
        samples = []
        for _ in range(3 if QUICK else 5):
            start = time.perf_counter()
            cj()
            samples.append(time.perf_counter() - start)
        t_cj = statistics.median(samples)
        row("check-jsonschema medium (schema only)", t_cj)
        rows.append(("check medium vs check-jsonschema", "", f"{t_cj / check_medium:.1f}x faster", "", ">= 20x faster"))

        floor_l, _ = measure([TARGET / "examples" / "parse_floor", large])
        row("read+parse large (floor)", floor_l)
        out = tmp / "out"
        t_cm, _ = measure([AMISET, "compile", medium, "--out", out])
        row("compile medium (80,000 launch specs)", t_cm)
        t_cl, rss = measure([AMISET, "compile", large, "--out", out])
        row("compile large (200,000 launch specs)", t_cl, "read+parse", floor_l, rss, "<= 3x read+parse, < 300 MiB")
        rows.append(("compile scaling medium -> large (2.5x the launch specs)", "", f"{t_cl / t_cm:.2f}x the time", "", "linear: ~2.5x"))

        # authorize and diff: a 1,000-file change in a 10,000-file history.
        repo = tmp / "repo"
        subprocess.run([TARGET / "examples" / "corpus", repo, "--preset", "medium"], check=True, stdout=subprocess.DEVNULL)
        # Grow to 10,000 files: 400 sets + 9,600 worker types (copies with new names).
        src = sorted((repo / "worker-types").iterdir())
        n = 0
        while len(list((repo / "worker-types").iterdir())) < 9600:
            shutil.copy(src[n % len(src)], repo / "worker-types" / f"copy-{n}.toml")
            n += 1
        git(repo, "init", "-q", "-b", "main")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "base")
        git(repo, "checkout", "-q", "-b", "pr")
        for i in range(1000):
            p = repo / "worker-types" / f"copy-{i}.toml"
            p.write_text(p.read_text().replace("minCapacity = 0", "minCapacity = 1"))
        git(repo, "commit", "-q", "-am", "change 1000 worker types")
        t, _ = measure([AMISET, "authorize", "--base", "main", "--author", "@admin", "--format", "json"], cwd=repo, ok=(0, 1))
        row("authorize: 1,000 changed files of 10,000", t, target="well under 1 s")
        t, _ = measure([AMISET, "diff", "--base", "main", "--format", "json"], cwd=repo, runs=3)
        row("diff: 1,000 changed files of 10,000", t)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"\nmachine: {os.cpu_count()} cores; {RUNS} runs each, median wall time, peak RSS of one process\n")
    print("| benchmark | time | ratio | peak RSS | target |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
