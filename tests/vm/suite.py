"""`make test-vm`: run the vm-marked pytest files inside the guest.

    .venv/bin/python -m tests.vm.suite [--boot per-file|once] [--timeout S] [PATHS...]

The vm-marked tests are collected on the host, grouped, and each group runs
in a fresh guest as `.venv/bin/pytest -m vm` from the (read-only) repository,
writing junit XML to .cache/vm/results/.  `--boot per-file` (the default)
gives every test file a clean guest (/etc, /run, network namespaces, loaded
ppp units, users); `--boot once` runs everything in one guest, saving about
one boot plus one pytest start-up (~8 s under TCG) per file.

The summary at the end says how many tests ran in the guest.  When QEMU or
the kernel image cannot be had on this machine (only then) the VM tests are
skipped with the reason in a banner, and the exit status is 0; under CI
(CI set) that is a failure instead: CI must run them.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from tests import machine_lock
from tests.vm.image import CACHE, REPO, Image, VmUnavailable, ensure_image
from tests.vm.run import run_in_vm

RESULTS = CACHE / "results"
PYTEST = ".venv/bin/pytest"
# In the guest: the repository is read-only, so no cache provider and no
# hypothesis example database (it would warn on every run).
GUEST_PYTEST_FLAGS = ["-m", "vm", "-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-ra", "-v"]


@dataclass
class GroupResult:
    name: str
    exit_code: int
    boot_seconds: float | None
    wall_seconds: float
    counts: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def banner(text: str) -> None:
    rule = "!" * 78
    print(f"\n{rule}\n{text}\n{rule}\n", flush=True)


def collect_vm_files(paths: Sequence[str]) -> list[str]:
    """Test files holding vm-marked tests, collected by pytest on the host."""
    result = subprocess.run([PYTEST, "--collect-only", "-q", "-m", "vm", "-p", "no:cacheprovider", *paths],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    if result.returncode not in (0, 5):        # 5: nothing collected
        raise RuntimeError(f"collecting the vm tests failed (pytest exit {result.returncode}):\n"
                           f"{result.stdout}{result.stderr}")
    files = [line.split("::", 1)[0] for line in result.stdout.splitlines() if "::" in line]
    return list(dict.fromkeys(files))


def read_junit(path: Path) -> tuple[dict[str, int], list[str]]:
    """(counts, skipped test ids with reasons) from a pytest junit XML file."""
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    skipped: list[str] = []
    if not path.exists():
        return counts, skipped
    root = ElementTree.parse(path).getroot()
    for suite in root.iter("testsuite"):
        for key in counts:
            counts[key] += int(suite.get(key, "0"))
        for case in suite.iter("testcase"):
            skip = case.find("skipped")
            if skip is not None:
                skipped.append(f"{case.get('classname')}::{case.get('name')}: {skip.get('message', '')}")
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    return counts, skipped


def run_group(name: str, files: list[str], timeout: float, image: Image) -> GroupResult:
    junit = RESULTS / (re.sub(r"[^A-Za-z0-9_.-]+", "_", name) + ".xml")
    print(f"\n=== VM: booting a guest for {name} ===", flush=True)
    result = run_in_vm([PYTEST, *GUEST_PYTEST_FLAGS, f"--junitxml={junit}", *files],
                       timeout=timeout, out_dir=RESULTS, cwd=str(REPO), image=image)
    counts, skipped = read_junit(junit)
    return GroupResult(name, result.exit_code, result.boot_seconds, result.wall_seconds, counts, skipped)


def summarise(groups: list[GroupResult], package: str, wall: float) -> int:
    total = {"passed": 0, "failures": 0, "errors": 0, "skipped": 0}
    print(f"\n=== VM tests, run inside the QEMU guest ({package}) ===")
    for group in groups:
        for key in total:
            total[key] += group.counts.get(key, 0)
        boot = f"{group.boot_seconds:.1f} s" if group.boot_seconds is not None else "no boot"
        status = "ok" if group.exit_code == 0 else f"FAILED (exit {group.exit_code})"
        if group.exit_code != 0 and not group.counts.get("tests"):
            status += ": pytest reported no results (collection error or crash: see its output above)"
        print(f"  {group.name:<40} {group.counts.get('passed', 0):3d} passed "
              f"{group.counts.get('failures', 0) + group.counts.get('errors', 0):3d} failed "
              f"{group.counts.get('skipped', 0):3d} skipped   boot {boot}, wall {group.wall_seconds:.1f} s   {status}")
    skipped = [s for group in groups for s in group.skipped]
    if skipped:
        banner("VM tests SKIPPED inside the guest:\n" + "\n".join(f"  {s}" for s in skipped))
    ok = all(g.exit_code == 0 for g in groups) and total["passed"] > 0
    print(f"VM tests: {total['passed']} passed, {total['failures']} failed, {total['errors']} errors, "
          f"{total['skipped']} skipped in {len(groups)} guest boot(s), {wall:.1f} s"
          f"{'' if ok else '  -- VM TESTS FAILED'}", flush=True)
    return 0 if ok else 1


def main(args: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.vm.suite", description=__doc__.split("\n\n")[0])
    parser.add_argument("--boot", choices=("per-file", "once"), default=os.environ.get("VM_BOOT", "per-file"))
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per guest boot (default 900)")
    parser.add_argument("paths", nargs="*", help="test files or directories (default: all of tests/)")
    options = parser.parse_args(args)
    started = time.monotonic()
    in_ci = bool(os.environ.get("CI"))
    try:
        if shutil.which("qemu-system-x86_64") is None:
            raise VmUnavailable("qemu-system-x86_64 is not installed (Debian package qemu-system-x86)")
        image = ensure_image()
    except VmUnavailable as error:
        if in_ci:
            banner(f"VM tests cannot run, and CI must run them: {error}")
            return 1
        banner(f"VM TESTS SKIPPED: {error}\n(they need QEMU and Debian's kernel image; `make bootstrap` installs them)")
        return 0
    files = collect_vm_files(options.paths)
    if not files:
        banner("no vm-marked tests were collected: nothing ran in the guest")
        return 1
    # The guest runs the host's install: no attack or flow suite of another
    # checkout may reinstall pppup or rewrite the policy while it runs.
    machine_lock.hold()
    shutil.rmtree(RESULTS, ignore_errors=True)
    RESULTS.mkdir(parents=True)
    groups = [(f, [f]) for f in files] if options.boot == "per-file" else [("all vm tests", files)]
    results = [run_group(name, members, options.timeout, image) for name, members in groups]
    return summarise(results, image.package, time.monotonic() - started)


if __name__ == "__main__":
    sys.exit(main())
