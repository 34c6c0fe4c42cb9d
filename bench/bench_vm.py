"""bench-vm: what the test VM costs (tests/vm/).

- boot: host wall time from starting QEMU to the guest starting the command
  (`true`), over N boots, and the whole run's wall time;
- smoke: the smoke test (tests/vm/test_smoke.py, the dial/ppp/ping/hang-up
  scenario) in a fresh guest: host wall time for boot + pytest + scenario,
  and the scenario alone as pytest measured it inside the guest;
- QEMU's peak RSS over those runs (getrusage of waited children: QEMU is
  the largest);
- cold image: building the kernel + initramfs cache from nothing (apt-get
  download included) into a temporary cache directory, so the real one stays.
Results go to docs/benchmarks.md, section "Test VM".
"""
from __future__ import annotations

import argparse
import io
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.vm import image as vm_image  # noqa: E402
from tests.vm.run import run_in_vm, use_kvm  # noqa: E402


def spread(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return f"{statistics.median(ordered):.2f} / {p90:.2f} (min {ordered[0]:.2f}, max {ordered[-1]:.2f})"


def bench_boots(image: vm_image.Image, runs: int) -> tuple[list[float], list[float]]:
    boots, walls = [], []
    for _ in range(runs):
        result = run_in_vm(["true"], timeout=120, cwd="/", sink=io.BytesIO(), image=image)
        if result.exit_code != 0 or result.boot_seconds is None:
            raise SystemExit(f"bench-vm: a boot failed (exit {result.exit_code})")
        boots.append(result.boot_seconds)
        walls.append(result.wall_seconds)
    return boots, walls


def bench_smoke(image: vm_image.Image, runs: int) -> tuple[list[float], list[float]]:
    walls, scenario = [], []
    with tempfile.TemporaryDirectory(prefix="bench-vm-") as out:
        junit = Path(out) / "smoke.xml"
        for _ in range(runs):
            result = run_in_vm([".venv/bin/pytest", "-m", "vm", "-p", "no:cacheprovider", "-p", "no:hypothesispytest",
                                "-q", f"--junitxml={junit}", "tests/vm/test_smoke.py", "-k", "a_dials_b"],
                               timeout=300, cwd=str(ROOT), out_dir=Path(out), sink=io.BytesIO(), image=image)
            if result.exit_code != 0:
                raise SystemExit(f"bench-vm: the smoke test failed in the guest (exit {result.exit_code})")
            walls.append(result.wall_seconds)
            case = ElementTree.parse(junit).getroot().find(".//testcase")
            scenario.append(float(case.get("time", "nan")) if case is not None else float("nan"))
    return walls, scenario


def bench_cold_image() -> float:
    with tempfile.TemporaryDirectory(prefix="bench-vm-cache-") as cache:
        vm_image.CACHE = Path(cache)
        started = time.monotonic()
        vm_image.ensure_image(log=lambda message: None)
        return time.monotonic() - started


def write_section(text: str) -> None:
    path = ROOT / "docs" / "benchmarks.md"
    begin, end = "<!-- bench-vm:begin -->", "<!-- bench-vm:end -->"
    old = path.read_text() if path.exists() else "# pppup benchmarks\n"
    block = f"{begin}\n{text}{end}\n"
    if begin in old and end in old:
        new = old[:old.index(begin)] + block + old[old.index(end) + len(end) + 1:]
    else:
        new = old.rstrip("\n") + "\n\n" + block
    path.write_text(new)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--boots", type=int, default=9)
    parser.add_argument("--smoke-runs", type=int, default=3)
    parser.add_argument("--no-cold-image", action="store_true", help="skip the cold image build (downloads the kernel)")
    options = parser.parse_args()
    load = os.getloadavg()[0]
    image = vm_image.ensure_image()
    boots, boot_walls = bench_boots(image, options.boots)
    smoke_walls, scenario = bench_smoke(image, options.smoke_runs)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    cold = None if options.no_cold_image else bench_cold_image()
    accel = "KVM" if use_kvm() else "TCG"
    text = (
        "## Test VM (bench/bench_vm.py, `make bench-vm`)\n\n"
        f"QEMU {accel}, q35, 2 vCPUs, 512 MiB, {image.package}; host: {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, load average {load:.2f} at start (teammates share the host).\n"
        "Seconds, median / p90 (min, max).\n\n"
        "| what | runs | seconds |\n|---|---|---|\n"
        f"| boot: QEMU start -> guest runs the command | {len(boots)} | {spread(boots)} |\n"
        f"| whole run of `true` (boot, command, power-off) | {len(boot_walls)} | {spread(boot_walls)} |\n"
        f"| smoke test file in a fresh guest (host wall) | {len(smoke_walls)} | {spread(smoke_walls)} |\n"
        f"| smoke scenario alone (pytest's time in the guest) | {len(scenario)} | {spread(scenario)} |\n"
        + (f"| cold image build (apt-get download, modules, initramfs) | 1 | {cold:.2f} |\n" if cold is not None else "")
        + f"\nQEMU peak RSS: {peak_rss_mb:.0f} MiB.\n\n"
    )
    print(text)
    write_section(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
