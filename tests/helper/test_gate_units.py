"""The gate's small pure parts: the shim argv parser, the op-name pairing
across protocol, handlers and client (aesthetics lesson 4), the entry file's
fixed paths, and the hardening the helper applies to itself."""
from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys

import pytest

from pppup.helper_client import SHIM_EXITS, HelperClient
from pppup_helper import handlers, harden
from pppup_helper.main import parse_shim_argv
from pppup_protocol import paths
from pppup_protocol.errors import Code, PppupError
from pppup_protocol.ops import Op

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_shim_argv_parsed():
    args = parse_shim_argv(["--uid", "1000", "--gid", "1000", "--groups", "1000,24,27"])
    assert (args.uid, args.gid, args.groups) == (1000, 1000, frozenset({1000, 24, 27}))
    assert parse_shim_argv(["--uid", "0", "--gid", "0", "--groups", ""]).groups == frozenset()


@pytest.mark.parametrize("argv", [
    [],
    ["--uid", "1000", "--gid", "1000"],
    ["--gid", "1000", "--uid", "1000", "--groups", ""],
    ["--uid", "-1", "--gid", "1000", "--groups", ""],
    ["--uid", "1_000", "--gid", "1000", "--groups", ""],
    ["--uid", " 1000", "--gid", "1000", "--groups", ""],
    ["--uid", "\u0661", "--gid", "1000", "--groups", ""],
    ["--uid", "4294967295", "--gid", "1000", "--groups", ""],
    ["--uid", "99999999999", "--gid", "1000", "--groups", ""],
    ["--uid", "1000", "--gid", "1000", "--groups", "1,,2"],
    ["--uid", "1000", "--gid", "1000", "--groups", "1,2,"],
    ["--uid", "1000", "--gid", "1000", "--groups", "", "--policy", "/tmp/p"],
    ["--uid=0", "--gid", "0", "--groups", "", "x"],
])
def test_shim_argv_refused(argv):
    with pytest.raises(PppupError) as err:
        parse_shim_argv(argv)
    assert err.value.code is Code.HELPER


def test_op_names_pair_up_across_protocol_handlers_and_client():
    ops = {op.value for op in Op}
    handler_names = {fn.__name__.removeprefix("handle_") for fn in handlers.HANDLERS.values()}
    assert set(handlers.HANDLERS) == set(Op)
    assert all(handlers.HANDLERS[op].__name__ == f"handle_{op.value}" for op in Op)
    client_methods = {name for name, fn in inspect.getmembers(HelperClient, inspect.isfunction)
                      if not name.startswith("_") and name not in ("connect", "close")}
    assert ops == handler_names == client_methods


def test_handlers_never_dispatch_by_name():
    with open(handlers.__file__) as f:
        source = f.read()
    assert "getattr(" not in source


def test_shim_exit_codes_match_the_c_source():
    with open(os.path.join(ROOT, "csrc", "pppup-shim.c")) as f:
        source = f.read()
    codes = {int(n) for n in re.findall(r"EXIT_[A-Z]+ = (\d+),", source)}
    assert codes == set(SHIM_EXITS)


def test_entry_file_paths_match_paths_py():
    with open(os.path.join(ROOT, "helper", "pppup-helper.py")) as f:
        source = f.read()
    assert f'SITE_PACKAGES = "{paths.VENV}/lib/python3.11/site-packages"' in source
    assert f"HELPER_EXIT = {int(Code.HELPER)}" in source
    assert paths.PYTHON.endswith("python3.11")


@pytest.mark.skipif(os.geteuid() != 0, reason="trimming capabilities needs root")
def test_hardening_in_a_child_process():
    code = ("from pppup_helper import harden; harden.harden_process(); import json; "
            "print(json.dumps(harden.current_state())); print(open('/proc/self/status').read())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         timeout=60).stdout
    import json
    state = json.loads(out.splitlines()[0])
    assert state["dumpable"] is False and state["no_new_privs"] is True and state["core"] == [0, 0]
    assert set(state["bounding"]) == set(harden.PPPD_CAPS)
    status = dict(line.split(":\t", 1) for line in out.splitlines()[1:] if ":\t" in line)
    effective = int(status["CapEff"], 16)
    assert not effective & (1 << 16), "CAP_SYS_MODULE gone"
    assert not effective & (1 << 19), "CAP_SYS_PTRACE gone"
    assert effective & (1 << 21), "CAP_SYS_ADMIN kept for TIOCVHANGUP (and pppd's open of the TIOCEXCL tty)"
    bounding = int(status["CapBnd"], 16)
    for cap, name in ((16, "sys_module"), (17, "sys_rawio"), (19, "sys_ptrace"), (27, "mknod"), (39, "bpf")):
        assert not bounding & (1 << cap), f"pppd and its scripts never get CAP_{name.upper()}"


def test_user_namespace_is_refused(tmp_path):
    from pppup_helper.main import require_initial_user_namespace
    init = tmp_path / "init"
    init.write_text("         0          0 4294967295\n")
    require_initial_user_namespace(str(init))
    inner = tmp_path / "inner"
    inner.write_text("         0       1000          1\n")
    with pytest.raises(PppupError) as err:
        require_initial_user_namespace(str(inner))
    assert err.value.code is Code.DENIED and "user namespace" in err.value.message
