#!/usr/bin/env python3
"""Session storage, fanout-sql's SqliteStore vs Agno 3.1.10's SqliteDb, in one run on one machine;
rewrites the "Session storage" table in BENCHMARKS.md.

    python3 bench/compare/store.py            # 2 rounds, 100 timed runs per point
    QUICK=1 python3 bench/compare/store.py    # 1 round, 20 timed runs per point

Sides (each scenario on a new database file in the system temp dir):
- fanout: crates/fanout-sql/benches/store.rs (`cargo bench -p fanout-sql --bench store`), SQLite in
  WAL mode with synchronous=NORMAL (fanout-sql's default), and again with synchronous=FULL
  (FANOUT_BENCH_SYNC=full): Agno's durability, a commit waits for the disk.
- Agno: bench/compare/agno/store_bench.py on SqliteDb (WAL, synchronous FULL), in the venv
  bench/compare/.venv (agno 3.1.10, created by this script or run.py; SQLAlchemy's asyncio extra
  added when missing, Agno's sqlite module imports it).

The rounds alternate the sides; each figure is the best of the rounds' medians. Not run in CI.
"""
import json
import os
import platform
import subprocess
import sys
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
QUICK = os.environ.get("QUICK") == "1"
ROUNDS = 1 if QUICK else 2
VENV_PY = HERE / ".venv" / "bin" / "python"


def setup():
    if not VENV_PY.exists():
        subprocess.run([sys.executable, "-m", "venv", str(HERE / ".venv")], check=True)
        subprocess.run([str(VENV_PY), "-m", "pip", "install", "-q", "agno==3.1.10", "openai"], check=True)
    if subprocess.run([str(VENV_PY), "-c", "import agno.db.sqlite"], capture_output=True).returncode != 0:
        subprocess.run([str(VENV_PY), "-m", "pip", "install", "-q", "sqlalchemy[asyncio]"], check=True)
    subprocess.run(["cargo", "bench", "-q", "-p", "fanout-sql", "--bench", "store", "--no-run"], cwd=ROOT, check=True)


def last_json(cmd, env):
    out = subprocess.run(cmd, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


SIDES = {
    "fanout": (["cargo", "bench", "-q", "-p", "fanout-sql", "--bench", "store"], {}),
    "fanout_full": (["cargo", "bench", "-q", "-p", "fanout-sql", "--bench", "store"], {"FANOUT_BENCH_SYNC": "full"}),
    "agno": ([str(VENV_PY), str(HERE / "agno" / "store_bench.py")], {}),
}


LOAD = []


def measure():
    LOAD.append(os.getloadavg()[0])
    rounds = {side: [] for side in SIDES}
    for r in range(ROUNDS):
        for side, (cmd, env) in SIDES.items():
            print(f"round {r + 1}/{ROUNDS}: {side} …", file=sys.stderr, flush=True)
            rounds[side].append(last_json(cmd, env))
            LOAD.append(os.getloadavg()[0])
    best = {}
    for side, results in rounds.items():
        best[side] = {key: min(res[key] for res in results if key in res) for key in results[0] if key != "concurrent_errors"}
        errors = [e for res in results for e in res.get("concurrent_errors", [])]
        if errors:
            best[side]["concurrent_errors"] = errors[:3]
    return best, rounds


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}"


def table(b):
    f, ff, a = b["fanout"], b["fanout_full"], b["agno"]

    def us(x):
        return f"{x / 1000:.2f} ms" if x >= 1000 else f"{x:.0f} µs"

    def ms(x):
        return f"{x:.1f} ms" if x < 100 else f"{x:.0f} ms"

    def ratio(agno, normal, full):
        return f"{agno / normal:.0f}× / {agno / full:.1f}×"

    rows = [
        "| | fanout, SQLite (WAL, `synchronous=NORMAL`, the default) | fanout, SQLite (WAL, `synchronous=FULL`) | Agno 3.1.10 `SqliteDb` (WAL, `FULL`) | Agno ÷ fanout (NORMAL / FULL) |",
        "|---|---|---|---|---|",
    ]
    for n in (1, 100, 1000):
        k = f"store_after_{n}_us"
        rows.append(
            f"| store a run after {n:,} earlier run{'s' if n > 1 else ''} of its session (median) | {us(f[k])} | {us(ff[k])} | {us(a[k])} | {ratio(a[k], f[k], ff[k])} |"
        )
    g = lambda s: s["store_after_1000_us"] / s["store_after_1_us"]  # noqa: E731
    rows.append(f"| growth from 1 to 1,000 earlier runs | {g(f):.2f}× | {g(ff):.2f}× | {g(a):.2f}× | |")
    k = "history_10000_ms"
    rows.append(
        f"| load 10,000 messages of history (1,667 runs) | {ms(f[k])} | {ms(ff[k])} | {ms(a[k])} (its decoded-run cache warm: {ms(a['history_10000_cached_ms'])}) | {ratio(a[k], f[k], ff[k])} |"
    )
    k = "history_last_10_us"
    rows.append(f"| load the last 10 runs of that session | {us(f[k])} | {us(ff[k])} | {us(a[k])} | {ratio(a[k], f[k], ff[k])} |")
    k = "concurrent_100_stored"
    rows.append(f"| 100 concurrent runs on one session: runs stored whole (fewest of the rounds) | {f[k]} / 100 | {ff[k]} / 100 | {a[k]} / 100 | |")
    k = "concurrent_100_ms"
    rows.append(f"| 100 concurrent runs on one session: time until all are stored | {ms(f[k])} | {ms(ff[k])} | {ms(a[k])} | {ratio(a[k], f[k], ff[k])} |")
    return rows


def write(best):
    agno_version = subprocess.run(
        [str(VENV_PY), "-c", "import importlib.metadata as m;print(m.version('agno'), m.version('sqlalchemy'))"],
        capture_output=True,
        text=True,
    ).stdout.split()
    lines = [
        "<!-- store:start -->",
        f"Measured {date.today().isoformat()} on {machine()}, shared with other builds (load average "
        f"{min(LOAD):.1f}–{max(LOAD):.1f} during the run): compare the ratios. "
        f"`python3 bench/compare/store.py` ({ROUNDS} round{'s' if ROUNDS > 1 else ''}, best of the rounds' medians); "
        f"agno {agno_version[0] if agno_version else '?'} with SQLAlchemy {agno_version[1] if len(agno_version) > 1 else '?'}, "
        f"Python {platform.python_version()}; fanout-sql on sqlx 0.8 with its bundled SQLite.",
        "",
        *table(best),
    ]
    errors = best["agno"].get("concurrent_errors")
    if errors:
        lines += ["", f"Agno's errors during the concurrent runs (first three): `{errors}`"]
    lines.append("<!-- store:end -->")
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text()
    start, end = text.index("<!-- store:start -->"), text.index("<!-- store:end -->") + len("<!-- store:end -->")
    path.write_text(text[:start] + "\n".join(lines) + text[end:])


def main():
    setup()
    best, rounds = measure()
    results = HERE / "results" / f"store-{date.today().isoformat()}.json"
    results.write_text(json.dumps({"best": best, "rounds": rounds, "load": LOAD}, indent=2) + "\n")
    write(best)
    print(json.dumps(best, indent=2))


if __name__ == "__main__":
    main()
