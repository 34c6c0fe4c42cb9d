"""What a `status` request costs the root helper in modules (DEVELOPERS.md
"Start-up budget", issue 4 point 11): every request through the shim is a
fresh interpreter, so what it imports is most of what it costs.  A real
helper main() answers a real status request in a fresh `python3.11 -I -S`,
with the policy, state and lock directories of a private world; then the
policy document cache (policy_cache.py) on its own.
"""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import tempfile
import textwrap

import pytest

from pppup_helper import policy_cache

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SITE = os.path.join(ROOT, ".venv", "lib", "python3.11", "site-packages")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the policy loader insists on root-owned files")

# Modules a status request must not load: each is a measurable slice of
# every request (typing, socket.py, datetime, dataclasses + inspect, secrets
# + hashlib, ipaddress, python-prctl's wrapper prctl: harden.py uses _prctl),
# or belongs to starting/stopping pppd only (pppd, the cffi system calls),
# or is the TOML parser the document cache spares.
NOT_ON_THE_STATUS_PATH = {"typing", "dataclasses", "inspect", "secrets", "hashlib", "ipaddress", "socket",
                          "selectors", "datetime", "tomllib", "subprocess", "pppup_helper.pppd",
                          "pppup_helper.syscalls", "_cffi_backend", "prctl"}

PROBE = textwrap.dedent("""
    import json, os, sys
    sys.path[:] = ["/usr/lib/python3.11", "/usr/lib/python3.11/lib-dynload", %(helper)r, %(site)r]
    sys.dont_write_bytecode = True
    import _socket
    from pppup_protocol import paths
    root = %(root)r
    paths.POLICY, paths.PEERS_DIR = root + "/policy.toml", root + "/ppp/peers"
    paths.STATE_DIR, paths.LOCK_DIR = root + "/state", root + "/lock"
    a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
    ours = _socket.socket(fileno=os.dup(a.fileno()) if a.fileno() != 3 else os.dup(a.fileno()))
    a.close()
    os.dup2(b.fileno(), 3)             # the helper's end on fd 3, as the shim leaves it
    if b.fileno() != 3:
        b.close()
    ours.send(b"op=status\\n")
    ours.shutdown(_socket.SHUT_WR)          # then end of connection: main() returns
    import pppup_helper.main
    code = pppup_helper.main.main(["--uid", "0", "--gid", "0", "--groups", ""])
    answer = json.loads(ours.recv(65536))
    print(json.dumps({"code": code, "answer": answer, "modules": sorted(sys.modules)}))
""")

POLICY = textwrap.dedent("""\
    version = 1

    [lines.modem1]
    device = "/dev/ttyS0"
    [lines.modem2]
    device = "/dev/ttyS9"

    [peers.isp]

    [[rules]]
    users = ["root"]
    lines = ["modem1", "modem2"]
    peers = ["isp"]
    hours = ["Mon-Sun 00:00-24:00"]
    """)


@pytest.fixture
def world():
    root = tempfile.mkdtemp(prefix="pppup-status-", dir="/run")
    os.chmod(root, 0o755)
    os.makedirs(os.path.join(root, "ppp", "peers"), mode=0o755)
    with open(os.path.join(root, "ppp", "peers", "isp"), "w") as f:
        f.write("noauth\n")
    with open(os.path.join(root, "policy.toml"), "w") as f:
        f.write(POLICY)
    os.mkdir(os.path.join(root, "lock"), 0o755)
    yield root
    shutil.rmtree(root)


def status_in_a_fresh_helper(root: str) -> dict:
    code = PROBE % {"helper": os.path.join(ROOT, "helper"), "site": SITE, "root": root}
    out = subprocess.run(["/usr/bin/python3.11", "-I", "-S", "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def test_a_status_request_loads_none_of_the_costly_modules(world):
    first = status_in_a_fresh_helper(world)
    assert first["code"] == 0 and first["answer"]["ok"], first["answer"]
    # The first request parses the policy (tomllib) and leaves its document for the next.
    assert "tomllib" in first["modules"]
    assert os.path.exists(os.path.join(world, "state", policy_cache.DOCUMENT_FILE))
    second = status_in_a_fresh_helper(world)
    assert second["answer"] == first["answer"]
    lines = {entry["line"]: entry for entry in second["answer"]["lines"]}
    assert lines["modem1"]["state"] == "free"
    assert lines["modem2"]["state"] == "unavailable" and "No such file" in lines["modem2"]["problem"]
    loaded = set(second["modules"])
    assert loaded & NOT_ON_THE_STATUS_PATH == set(), sorted(loaded & NOT_ON_THE_STATUS_PATH)


def test_a_changed_policy_is_parsed_again_and_a_broken_one_still_refuses(world):
    status_in_a_fresh_helper(world)
    with open(os.path.join(world, "policy.toml"), "a") as f:
        f.write('\n[lines.modem3]\ndevice = "/dev/ttyS8"\n')
    changed = status_in_a_fresh_helper(world)
    assert "tomllib" in changed["modules"]
    assert [entry["line"] for entry in changed["answer"]["lines"]] == ["modem1", "modem2", "modem3"]
    # Only the parse is kept: the cached text's document is not a licence to
    # skip validation.  An unknown peer file breaks the (unchanged) policy.
    os.unlink(os.path.join(world, "ppp", "peers", "isp"))
    broken = status_in_a_fresh_helper(world)
    assert "tomllib" not in broken["modules"]
    assert broken["answer"]["ok"] is False and broken["answer"]["code"] == 3, broken["answer"]


# -- the cache itself ---------------------------------------------------------
@pytest.fixture
def state_dir():
    d = tempfile.mkdtemp(prefix="pppup-cache-", dir="/run")
    os.chmod(d, 0o700)
    yield d
    shutil.rmtree(d)


def counting_parser():
    calls = []

    def parse(text: str) -> dict:
        calls.append(text)
        return {"text": text, "n": [1, 2.5, True, None, {"x": "é"}]}
    return parse, calls


def test_the_same_text_is_parsed_once(state_dir):
    parse, calls = counting_parser()
    first = policy_cache.parsed("a = 1\n", parse, state_dir)
    again = policy_cache.parsed("a = 1\n", parse, state_dir)
    assert first == again and calls == ["a = 1\n"]
    assert type(again["n"][1]) is float and again["n"][2] is True     # JSON kept the types
    other = policy_cache.parsed("a = 2\n", parse, state_dir)
    assert other["text"] == "a = 2\n" and calls == ["a = 1\n", "a = 2\n"]
    st = os.stat(os.path.join(state_dir, policy_cache.DOCUMENT_FILE))
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == 0


def test_documents_json_cannot_give_back_are_never_stored(state_dir):
    from datetime import date
    calls = []

    def parse(text: str) -> dict:
        calls.append(text)
        return {"when": date(2026, 1, 1)}
    policy_cache.parsed("w = 2026-01-01\n", parse, state_dir)
    policy_cache.parsed("w = 2026-01-01\n", parse, state_dir)
    assert len(calls) == 2
    assert not os.path.exists(os.path.join(state_dir, policy_cache.DOCUMENT_FILE))


@pytest.mark.parametrize("spoil", ["foreign owner", "group readable", "hard link", "garbage", "state dir open"])
def test_a_cache_file_that_is_not_root_only_and_sound_is_a_miss(state_dir, spoil):
    parse, calls = counting_parser()
    policy_cache.parsed("a = 1\n", parse, state_dir)
    path = os.path.join(state_dir, policy_cache.DOCUMENT_FILE)
    if spoil == "foreign owner":
        os.chown(path, 65534, 65534)
    elif spoil == "group readable":
        os.chmod(path, 0o640)
    elif spoil == "hard link":
        os.link(path, path + ".second")
    elif spoil == "garbage":
        with open(path, "w") as f:
            f.write('{"text": "a = 1\\n", "document": [')
    else:
        os.chmod(state_dir, 0o755)
    policy_cache.parsed("a = 1\n", parse, state_dir)
    assert len(calls) == 2, spoil


def test_no_state_dir_means_no_cache(tmp_path):
    parse, calls = counting_parser()
    missing = str(tmp_path / "absent")
    policy_cache.parsed("a = 1\n", parse, missing)
    policy_cache.parsed("a = 1\n", parse, missing)
    assert len(calls) == 2 and not os.path.exists(missing)
