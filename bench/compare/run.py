#!/usr/bin/env python3
"""Run fanout, Agno and Rig side by side against one loopback scripted OpenAI-compatible server and
rewrite the comparison tables in BENCHMARKS.md.

    python3 bench/compare/run.py            # everything, 5 runs per scenario
    QUICK=1 python3 bench/compare/run.py    # 2 runs, smaller scenarios
    ONLY=team python3 bench/compare/run.py  # only the team scenario (its own table)

Sets up its own venv (bench/compare/.venv: agno 3.1.10 + openai) and builds the Rust programs
(fanout-bench, rig-bench: rig-core/rig-agent 0.44.0) in release mode. Not run in CI.
"""
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
QUICK = os.environ.get("QUICK") == "1"
ONLY = os.environ.get("ONLY", "")
RUNS = 2 if QUICK else 5
VENV_PY = HERE / ".venv" / "bin" / "python"
SERVER = ROOT / "target" / "release" / "fanout-testserver"
# Shares the workspace target dir so the release build of fanout's dependencies is reused.
FANOUT = ROOT / "target" / "release" / "fanout-bench"
RIG = ROOT / "target" / "release" / "rig-bench"


def setup():
    if not VENV_PY.exists():
        subprocess.run([sys.executable, "-m", "venv", str(HERE / ".venv")], check=True)
        subprocess.run([str(VENV_PY), "-m", "pip", "install", "-q", "agno==3.1.10", "openai"], check=True)
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "fanout-testserver"], cwd=ROOT, check=True)
    for program in ["fanout-bench", "rig-bench"]:
        subprocess.run(
            ["cargo", "build", "--release", "-q", "--manifest-path", str(HERE / program / "Cargo.toml")],
            env={**os.environ, "CARGO_TARGET_DIR": str(ROOT / "target")},
            check=True,
        )


class Server:
    def __init__(self, tool_args, extra=()):
        self.log = Path(tempfile.mkstemp(suffix=".jsonl")[1])
        self.proc = subprocess.Popen(
            [str(SERVER), "--tool-args", json.dumps(tool_args), "--log", str(self.log), *extra],
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline()
        self.url = line.strip().split()[-1]

    def requests(self, expected=2):
        # The server appends to its log after each request; a big one can take a moment.
        deadline = time.time() + 5
        while True:
            reqs = [json.loads(l) for l in self.log.read_text().splitlines() if l.strip()]
            if len(reqs) >= expected or time.time() > deadline:
                return reqs
            time.sleep(0.05)

    def close(self):
        self.proc.terminate()
        self.proc.wait()
        self.log.unlink(missing_ok=True)


def measure(cmd, tool_args, server_args=(), expected=2):
    """One process run: wall seconds, peak RSS (MiB), server-side phase (s), stdout. The phase
    runs from the first request to request number `expected` (the second: the seed's tool phase)."""
    server = Server(tool_args, server_args)
    try:
        timing = tempfile.mkstemp()[1]
        env = {**os.environ, "OPENAI_API_KEY": "bench", "OPENAI_BASE_URL": server.url, "NO_COLOR": "1"}
        start = time.perf_counter()
        out = subprocess.run(
            ["/usr/bin/time", "-f", "%M", "-o", timing, *cmd], env=env, capture_output=True, text=True, timeout=600
        )
        wall = time.perf_counter() - start
        if out.returncode != 0:
            raise RuntimeError(f"{cmd} failed: {out.stderr[-2000:]}")
        rss_mib = int(Path(timing).read_text().split()[-1]) / 1024
        reqs = server.requests(expected)
        phase = (reqs[expected - 1]["ms"] - reqs[0]["ms"]) / 1000 if len(reqs) >= expected else None
        return wall, rss_mib, phase, out.stdout
    finally:
        server.close()


def summary(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def fmt(s, scale=1.0, unit="", digits=3):
    if s is None:
        return "–"
    return f"{s['median'] * scale:.{digits}f}{unit} ({s['min'] * scale:.{digits}f}–{s['max'] * scale:.{digits}f})"


def scenario(name, tool_args, commands, runs=RUNS, baseline=0.0, server_args=(), expected=2):
    results = {}
    for framework, cmd in commands.items():
        walls, rss, phases = [], [], []
        for _ in range(runs):
            wall, mib, phase, _ = measure(cmd, tool_args, server_args, expected)
            walls.append(wall - baseline)
            rss.append(mib)
            phases.append(phase - baseline if phase is not None else None)
            print(f"  {name} {framework}: wall {wall:.3f}s rss {mib:.1f}MiB phase {phase}", flush=True)
        results[framework] = {"wall": summary(walls), "rss": summary(rss), "phase": summary(phases)}
    return results


def json_scenario(name, commands, tool_args):
    results = {}
    for framework, cmd in commands.items():
        _, mib, _, stdout = measure(cmd, tool_args)
        results[framework] = {**json.loads(stdout.strip().splitlines()[-1]), "rss_mib": mib}
        print(f"  {name} {framework}: {results[framework]}", flush=True)
    return results


FRAMEWORKS = ["fanout", "agno", "rig"]


def commands(*args):
    """The same scenario for each framework's program."""
    programs = {"fanout": [str(FANOUT)], "agno": [str(VENV_PY), str(HERE / "agno" / "bench.py")], "rig": [str(RIG)]}
    return {name: programs[name] + list(args) for name in FRAMEWORKS}


TEAM_TASK = "Run all your tasks"


def team_server_args():
    """The leader's turn hands every member its task: fanout's and Rig's leaders call each
    member's tool (fanout reads `task`, Rig `prompt`), Agno's calls `delegate_task_to_member`
    once per member."""
    args = []
    for i in (1, 2, 3):
        args += ["--calls-for", f"worker-{i}=" + json.dumps({"task": TEAM_TASK, "prompt": TEAM_TASK})]
    delegations = [{"member_id": f"worker-{i}", "task": TEAM_TASK} for i in (1, 2, 3)]
    args += ["--calls-for", "delegate_task_to_member=" + json.dumps(delegations)]
    return args


TEAM_VARIANTS = [
    ("fanout", "fanout, `.await` (async)", [str(FANOUT), "team"]),
    ("fanout_blocking", "fanout, `.blocking()`, plain-function tools", [str(FANOUT), "team_blocking"]),
    ("agno_arun", "Agno `Team.arun()`", [str(VENV_PY), str(HERE / "agno" / "bench.py"), "team_arun"]),
    ("agno_run", "Agno `Team.run()`, plain-function tools", [str(VENV_PY), str(HERE / "agno" / "bench.py"), "team_run"]),
    ("rig", "Rig, members wrapped with `tool_concurrency(3)`", [str(RIG), "team"]),
    ("rig_stock", "Rig `Agent::into_tool()`", [str(RIG), "team_stock"]),
]


def team():
    """A leader and 3 members × 3 tools of 1 s: 8 model requests (the leader's 2, 2 per member)."""
    commands = {key: cmd for key, _, cmd in TEAM_VARIANTS}
    return scenario("team", {"delay": 1}, commands, server_args=team_server_args(), expected=8)


def write_team(res):
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("model name")), "?")
    agno_version = version([str(VENV_PY), "-c", "import importlib.metadata as m;print(m.version('agno'))"])
    lines = [
        "<!-- team:start -->",
        f"Measured {date.today()} on {os.cpu_count()} cores ({cpu}); {version(['rustc', '--version'])}; "
        f"agno {agno_version}; rig-core/rig-agent 0.44.0.",
        f"Command: `ONLY=team python3 bench/compare/run.py` ({RUNS} runs each; median (min–max)).",
        "",
        "| team of 3 members × 3 tools of 1 s | whole process | first → last model request (server-side) | peak RSS |",
        "|---|---|---|---|",
    ]
    for key, label, _ in TEAM_VARIANTS:
        r = res[key]
        lines.append(f"| {label} | {fmt(r['wall'], 1, ' s')} | {fmt(r['phase'], 1, ' s')} | {fmt(r['rss'], 1, ' MiB', 1)} |")
    lines.append("<!-- team:end -->")
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text()
    start, end = text.index("<!-- team:start -->"), text.index("<!-- team:end -->") + len("<!-- team:end -->")
    path.write_text(text[:start] + "\n".join(lines) + text[end:])
    print("\n".join(lines))


def main():
    setup()
    if ONLY == "team":
        res = {"team": team()}
        out_dir = HERE / "results"
        out_dir.mkdir(exist_ok=True)
        (out_dir / f"{date.today()}-team.json").write_text(json.dumps(res, indent=2))
        write_team(res["team"])
        return
    big = [1000] if QUICK else [1000, 10000]
    res = {}
    print("seed", flush=True)
    res["seed"] = scenario("seed", {"delay": 3}, commands("seed"), baseline=3.0)
    for n in big:
        print(f"fanout {n}", flush=True)
        runs = 1 if n >= 10000 else RUNS
        res[f"fanout_{n}"] = scenario(f"fanout_{n}", {"delay": 1}, commands("fanout", str(n)), runs)
    print("sync", flush=True)
    res["sync64"] = scenario("sync64", {"delay": 1}, commands("sync64"), 2)
    res["sync16_blocking"] = scenario("sync16_blocking", {"delay": 1}, commands("sync16_blocking"), 2)
    print("eager", flush=True)
    slow_stream = ["--fragment-chars", "4", "--fragment-delay-ms", "200"]
    fanout = [str(FANOUT)]
    res["eager"] = scenario(
        "eager", {"delay": 1}, {"on": fanout + ["eager", "on"], "off": fanout + ["eager", "off"]}, server_args=slow_stream
    )
    print("instantiate", flush=True)
    res["instantiate"] = json_scenario("instantiate", commands("instantiate"), {"delay": 0})
    k = "200" if QUICK else "1000"
    print("throughput", flush=True)
    res["throughput"] = json_scenario("throughput", commands("throughput", k), {"delay": 0})
    print("team", flush=True)
    res["team"] = team()
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / f"{date.today()}.json").write_text(json.dumps(res, indent=2))
    write_markdown(res)
    write_team(res["team"])


def ratio(a, b):
    """b ÷ a, for "how many times fanout's figure"."""
    if not a or not b or a["median"] <= 0:
        return "–"
    return f"{b['median'] / a['median']:.1f}×"


def row(label, metric, r, key, scale, unit, digits):
    """One table row: the three frameworks' figures and the two ratios against fanout."""
    f, a, g = (r[name][key] for name in FRAMEWORKS)
    return (
        f"| {label} | {metric} | {fmt(f, scale, unit, digits)} | {fmt(a, scale, unit, digits)} | "
        f"{fmt(g, scale, unit, digits)} | {ratio(f, a)} | {ratio(f, g)} |"
    )


def version(cmd):
    return subprocess.run(cmd, capture_output=True, text=True).stdout.strip()


def write_markdown(res):
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("model name")), "?")
    agno_version = version([str(VENV_PY), "-c", "import importlib.metadata as m;print(m.version('agno'))"])
    lock = (HERE / "rig-bench" / "Cargo.lock").read_text()
    rig_version = re.search(r'name = "rig-agent"\nversion = "([^"]+)"', lock).group(1)
    rustc = version(["rustc", "--version"])
    lines = [
        "<!-- compare:start -->",
        f"Measured {date.today()} on {os.cpu_count()} cores ({cpu}), {platform.platform()}; {rustc}; "
        f"agno {agno_version}, Python {platform.python_version()}; rig-core/rig-agent {rig_version}.",
        f"Command: `python3 bench/compare/run.py` ({RUNS} runs per scenario unless noted; median (min–max)).",
        "",
        "| scenario | metric | fanout | Agno | Rig | Agno ÷ fanout | Rig ÷ fanout |",
        "|---|---|---|---|---|---|---|",
    ]
    s = res["seed"]
    lines.append(row("seed, 3 async tools × 3 s", "tool phase − 3 s (server-side)", s, "phase", 1000, " ms", 1))
    lines.append(row("", "whole process − 3 s", s, "wall", 1000, " ms", 0))
    lines.append(row("", "peak RSS", s, "rss", 1, " MiB", 1))
    for key in [k for k in res if k.startswith("fanout_")]:
        n = key.split("_")[1]
        lines.append(row(f"{n} async tools × 1 s, one turn", "tool phase (server-side)", res[key], "phase", 1, " s", 3))
        lines.append(row("", "peak RSS", res[key], "rss", 1, " MiB", 1))
    for key, label in [("sync64", "64 sync tools × 1 s, async API"), ("sync16_blocking", "16 sync tools × 1 s, blocking API")]:
        lines.append(row(label, "tool phase (server-side)", res[key], "phase", 1, " s", 3))
    i = res["instantiate"]
    us = {name: i[name]["us_per_agent"] for name in FRAMEWORKS}
    heap = {name: i[name]["bytes_per_agent"] for name in FRAMEWORKS}
    lines.append(
        f"| agent instantiation (1 model, 1 tool) | time per agent | {us['fanout']:.3f} µs | {us['agno']:.2f} µs | "
        f"{us['rig']:.2f} µs | {us['agno'] / max(us['fanout'], 1e-9):.0f}× | {us['rig'] / max(us['fanout'], 1e-9):.1f}× |"
    )
    lines.append(
        f"| | heap per agent | {heap['fanout']} B | {heap['agno']} B | {heap['rig']} B | "
        f"{heap['agno'] / max(heap['fanout'], 1):.1f}× | {heap['rig'] / max(heap['fanout'], 1):.1f}× |"
    )
    t = res["throughput"]
    rps = {name: t[name]["runs_per_s"] for name in FRAMEWORKS}
    lines.append(
        f"| throughput: {t['fanout']['runs']} concurrent seed runs, 0 s tools | runs/s (higher is better) | "
        f"{rps['fanout']:.0f} | {rps['agno']:.0f} | {rps['rig']:.0f} | "
        f"fanout {rps['fanout'] / max(rps['agno'], 1e-9):.1f}× higher | fanout {rps['fanout'] / max(rps['rig'], 1e-9):.2f}× higher |"
    )
    lines.append(
        "| | p50 / p99 latency | "
        + " | ".join(f"{t[name]['p50_ms']:.0f} / {t[name]['p99_ms']:.0f} ms" for name in FRAMEWORKS)
        + " | | |"
    )
    lines.append("| | peak RSS | " + " | ".join(f"{t[name]['rss_mib']:.1f} MiB" for name in FRAMEWORKS) + " | | |")
    e = res["eager"]
    lines.append("")
    lines.append(
        f"Eager start (fanout only; 3 tools × 1 s, arguments streamed 4 chars / 200 ms), first → second request: "
        f"on {fmt(e['on']['phase'], 1, ' s')}, off {fmt(e['off']['phase'], 1, ' s')}."
    )
    lines.append("<!-- compare:end -->")
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text()
    start, end = text.index("<!-- compare:start -->"), text.index("<!-- compare:end -->") + len("<!-- compare:end -->")
    path.write_text(text[:start] + "\n".join(lines) + text[end:])
    print("\n".join(lines))


if __name__ == "__main__":
    main()
