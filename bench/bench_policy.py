"""bench-policy: what loading the policy costs the root helper on each request.

The helper is a fresh `python3.11 -I -S` process per request and loads the
policy once, so the figure that matters is "import the policy module + first
load" in a fresh process.  Measured in N fresh processes for a typical policy
(the shipped example, 3 lines / 3 rules) and a large one (40 lines, 200
rules, ~40 KB), each broken down into:
- import: `import pppup_helper.policy` (includes re, enum, typing, datetime:
  modules the rest of the helper imports too);
- first load: `load_policy()` the first time (includes importing tomllib
  and compiling its regexes);
- warm load: each further load in the same process (the parse + validate +
  file checks themselves).
Run as root (the loader insists on root-owned files).  Results go to
docs/benchmarks.md, section "Policy loading".
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
from policy.support import World  # noqa: E402

PYTHON = "/usr/bin/python3.11"
PROBE = r"""
import sys, time, json
sys.path[:0] = [HELPER]
if AFTER_MAIN:
    sys.path.append(SITE)
    import pppup_helper.main  # the gate's entry: what the helper has imported before the policy
t0 = time.perf_counter()
from pppup_helper.policy import load_policy
t1 = time.perf_counter()
load_policy(POLICY, ppp_dir=PPP)
t2 = time.perf_counter()
for _ in range(20):
    load_policy(POLICY, ppp_dir=PPP)
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "first": t2 - t1, "warm": (t3 - t2) / 20}))
"""


def example_text() -> str:
    with open(os.path.join(ROOT, "policy", "policy.example.toml")) as source:
        text = source.read()
    for placeholder, real in {'"alice"': '"bin"', '"bob"': '"daemon"', '"carol"': '"sys"',
                              '"netadmin"': '"adm"'}.items():
        text = text.replace(placeholder, real)
    return text


def large_text(lines: int = 40, rules: int = 200) -> str:
    out = ["version = 1\n"]
    for n in range(lines):
        out.append(f'\n[lines.modem{n}]\ndevice = "/dev/ttyS{n + 4}"\ndtr_hold = 1.0\nreset = "ATZ"\n'
                   f'admin_users = ["daemon"]\nadmin_groups = ["adm"]\n')
    out.append("\n[peers.isp]\n[peers.office]\n")
    for n in range(rules):
        out.append(f'\n[[rules]]\nname = "rule{n}"\nusers = ["bin", "sys", "daemon"]\ngroups = ["adm", "dialout"]\n'
                   f'lines = ["modem{n % lines}", "modem{(n + 1) % lines}"]\npeers = ["isp", "office"]\n'
                   f'flags = ["debug", "novj"]\nidle = 600\nmaxconnect = 3600\n'
                   f'hours = ["Mon-Fri 08:00-18:00", "Sat 22:00-02:00"]\nmax_links = 1\n')
    return "".join(out)


def measure(world: World, text: str, runs: int, after_main: bool = False) -> dict[str, list[float]]:
    world.write_policy(text)
    site = os.path.join(ROOT, ".venv", "lib", "python3.11", "site-packages")
    probe = PROBE.replace("HELPER", repr(os.path.join(ROOT, "helper"))).replace(
        "POLICY", repr(world.policy)).replace("PPP", repr(world.ppp)).replace(
        "AFTER_MAIN", repr(after_main)).replace("SITE", repr(site))
    samples: dict[str, list[float]] = {"import": [], "first": [], "warm": [], "size": [float(len(text))]}
    for _ in range(runs):
        out = subprocess.run([PYTHON, "-I", "-S", "-c", probe], capture_output=True, text=True, timeout=60,
                             check=True, env={"PATH": "/usr/bin:/bin"})
        for key, value in json.loads(out.stdout).items():
            samples[key].append(value * 1000)
    return samples


def row(name: str, samples: dict[str, list[float]]) -> str:
    def cell(key: str) -> str:
        values = sorted(samples[key])
        p90 = values[min(len(values) - 1, int(len(values) * 0.9))]
        return f"{statistics.median(values):.1f} / {p90:.1f}"
    first_total = sorted(a + b for a, b in zip(samples["import"], samples["first"]))
    return (f"| {name} ({samples['size'][0] / 1024:.1f} KB) | {cell('import')} | {cell('first')} | "
            f"{statistics.median(first_total):.1f} | {cell('warm')} |\n")


def write_section(text: str) -> None:
    path = os.path.join(ROOT, "docs", "benchmarks.md")
    begin, end = "<!-- bench-policy:begin -->", "<!-- bench-policy:end -->"
    old = open(path).read() if os.path.exists(path) else "# pppup benchmarks\n"
    block = f"{begin}\n{text}{end}\n"
    if begin in old and end in old:
        new = old[:old.index(begin)] + block + old[old.index(end) + len(end) + 1:]
    else:
        new = old.rstrip("\n") + "\n\n" + block
    with open(path, "w") as out:
        out.write(new)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench-policy: run as root (the loader requires root-owned files)")
    load = os.getloadavg()[0]
    root = tempfile.mkdtemp(prefix="pppt-bench-policy-", dir="/run")
    os.chmod(root, 0o755)
    try:
        world = World(root)
        world.write("ppp/peers/office", "noauth\n")
        typical = measure(world, example_text(), args.runs)
        large = measure(world, large_text(), args.runs)
        in_helper = measure(world, example_text(), args.runs, after_main=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    text = (
        "## Policy loading (bench/bench_policy.py, `make bench-policy`)\n\n"
        f"Fresh `python3.11 -I -S` process per run, {args.runs} runs, milliseconds, median / p90; "
        f"{platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, load average "
        f"{load:.2f} at start (teammates share the host).\n"
        "*import* = `import pppup_helper.policy` (re, enum, typing, datetime included: the helper needs "
        "most of them anyway); *first load* = the first `load_policy()` (includes importing tomllib); "
        "*warm* = each later load (parse, validate, every file check).\n\n"
        "| policy | import | first load | import + first load (median) | warm load |\n"
        "|---|---|---|---|---|\n" + row("example", typical) + row("40 lines, 200 rules", large)
        + row("example, after the gate's `pppup_helper.main`", in_helper) + "\n"
        "The last row is the policy's share of a real helper process: the modules the gate's entry "
        "already imported are not counted again.\n\n")
    write_section(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
