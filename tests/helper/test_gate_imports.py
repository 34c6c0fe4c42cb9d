"""What the root helper loads (click's test_imports idea, aesthetics lesson 4/14):
only the standard library, the cffi backend, python-prctl and pppup's own
protocol and helper packages.  No click, no pyserial, no client code, no
simulator; no pickle/marshal-style deserialisers in helper code (Y5)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SITE = os.path.join(ROOT, ".venv", "lib", "python3.11", "site-packages")
ALLOWED_THIRD_PARTY = {"__main__", "_cffi_backend", "prctl", "_prctl", "pppup_protocol", "pppup_helper"}

# Imports the helper as its entry file would (-I -S, explicit sys.path), builds
# the real backend (policy, session, audit), and reports every loaded module.
PROBE = """
import sys, json
sys.path[:] = ["/usr/lib/python3.11", "/usr/lib/python3.11/lib-dynload", %(helper)r, %(site)r]
sys.dont_write_bytecode = True
import pppup_helper.main, pppup_helper.handlers, pppup_helper.server
pppup_helper.handlers.real_backend()
print(json.dumps(sorted(sys.modules)))
"""


def loaded_modules() -> list[str]:
    code = PROBE % {"helper": os.path.join(ROOT, "helper"), "site": SITE}
    out = subprocess.run(["/usr/bin/python3.11", "-I", "-S", "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def test_helper_imports_only_the_allow_list():
    stdlib = set(sys.stdlib_module_names) | set(sys.builtin_module_names)
    foreign = sorted(m for m in loaded_modules()
                     if m.split(".")[0] not in stdlib and m.split(".")[0] not in ALLOWED_THIRD_PARTY)
    assert foreign == [], f"the root helper imports modules outside its allow-list: {foreign}"


def test_helper_start_up_stays_lean():
    # asyncio and friends cost start-up time on every request through the shim.
    heavy = {"asyncio", "click", "serial", "pppup", "pppup_sim", "cffi", "pickle", "shelve", "yaml",
             "ssl", "email", "http", "multiprocessing", "concurrent"}
    loaded = {m.split(".")[0] for m in loaded_modules()}
    assert not loaded & heavy, sorted(loaded & heavy)


def test_no_deserialisers_or_eval_in_helper_code():
    pattern = re.compile(r"\b(pickle|marshal|shelve|yaml)\b|\beval\(|\bexec\(|ffi\.(verify|compile)\(")
    offenders = []
    for package in ("pppup_helper", "pppup_protocol"):
        base = os.path.join(ROOT, "helper", package)
        for name in sorted(os.listdir(base)):
            if name.endswith(".py") and name != "_syscalls_build.py":
                with open(os.path.join(base, name)) as f:
                    for number, line in enumerate(f, 1):
                        if pattern.search(line.split("#", 1)[0]):
                            offenders.append(f"{package}/{name}:{number}: {line.strip()}")
    assert offenders == []
