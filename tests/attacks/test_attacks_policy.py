"""Attack class C (policy tampering, security.md C1-C6), run as pppt-mallory
against the installed setuid shim.  The safe outcome each time: the helper
refuses every request with Code.CONFIG, naming the file (and line) and the
fix, without a traceback; the autouse oracle adds /etc unchanged, no canary,
no helper left.  The same classes are unit-tested on the loader in
tests/policy/test_attacks_unit.py (with the exact messages).
"""
from __future__ import annotations

import os
import pwd
import stat
import threading
import time
from contextlib import contextmanager

import pytest

from attack_harness import BASE_POLICY, TEST_PEER, answers, raw, request

from pppup_protocol import paths

CONFIG = 3
STATUS = [request("status"), {"recv": 15}, {"close": True}, {"wait": 15}]
PEER_FILE = os.path.join(paths.PEERS_DIR, TEST_PEER)


def status(user) -> dict:
    result = raw(user, {}, STATUS)
    got = answers(result)
    assert got, f"no answer: {result['events']}"
    return got[0]


def assert_refused(user, *fragments: str) -> str:
    answer = status(user)
    assert answer["ok"] is False and answer["code"] == CONFIG, answer
    message = answer["message"]
    for fragment in fragments:
        assert fragment in message, message
    assert "Traceback" not in message and "File \"" not in message
    return message


def assert_works(user) -> None:
    answer = status(user)
    assert answer["ok"] is True, answer


@contextmanager
def mode_of(path: str, mode: int | None = None, owner: tuple[int, int] | None = None):
    """Change a system file's mode/owner for the test; always put it back."""
    st = os.lstat(path)
    try:
        if owner is not None:
            os.chown(path, *owner, follow_symlinks=False)
        if mode is not None:
            os.chmod(path, mode)
        yield
    finally:
        os.chown(path, st.st_uid, st.st_gid, follow_symlinks=False)
        os.chmod(path, stat.S_IMODE(st.st_mode))


def test_C0_control_the_base_policy_works(mallory, policy):
    assert_works(mallory)


# -- C1: ownership, mode, type ----------------------------------------------------
def test_C1_policy_owned_by_mallory(mallory, policy):
    os.chown(paths.POLICY, mallory.uid, mallory.gid)
    assert_refused(mallory, paths.POLICY, f"owned by uid {mallory.uid}", "chown root:root")


@pytest.mark.parametrize("mode", [0o664, 0o666, 0o646])
def test_C1_policy_writable_by_group_or_others(mallory, policy, mode):
    os.chown(paths.POLICY, 0, pwd.getpwnam(mallory.name).pw_gid)
    os.chmod(paths.POLICY, mode)
    assert_refused(mallory, "writable by group or others", "chmod go-w")


def test_C1_policy_directory_writable(mallory, policy):
    with mode_of(paths.CONFIG_DIR, 0o777):
        assert_refused(mallory, paths.CONFIG_DIR, "directory is writable by group or others")


def test_C1_policy_directory_owned_by_mallory(mallory, policy):
    with mode_of(paths.CONFIG_DIR, owner=(mallory.uid, mallory.gid)):
        assert_refused(mallory, "directory is owned by uid")


def _acl_granting(uid: int, perm: int) -> bytes:
    """A POSIX access ACL (system.posix_acl_access, version 2) adding user:UID:perm."""
    import struct

    def entry(tag: int, bits: int, ident: int = 0xFFFFFFFF) -> bytes:
        return struct.pack("<HHI", tag, bits, ident)
    # USER_OBJ rw(x), USER uid, GROUP_OBJ r(x), MASK = perm, OTHER r(x)
    base = 7 if perm & 1 else 6
    read = 5 if perm & 1 else 4
    return struct.pack("<I", 2) + entry(1, base) + entry(2, perm, uid) + entry(4, read) + entry(0x10, perm) \
        + entry(0x20, read)


@pytest.mark.parametrize("where", ["policy", "directory"])
def test_C1_acl_granting_mallory_write(mallory, policy, where):
    # The mode bits say 0644/0755, an ACL entry says mallory may write: the
    # ACL mask shows in the group bits, which the checks refuse.
    path = paths.POLICY if where == "policy" else paths.CONFIG_DIR
    st = os.stat(path)
    try:
        os.setxattr(path, "system.posix_acl_access", _acl_granting(mallory.uid, 6 if where == "policy" else 7))
    except OSError as exc:
        pytest.skip(f"no POSIX ACLs on this file system: {exc.strerror}")
    try:
        assert run_as_can_write(mallory, path if where == "policy" else os.path.join(path, "x"))
        assert_refused(mallory, path, "writable by group or others")
    finally:
        os.removexattr(path, "system.posix_acl_access")
        os.chmod(path, stat.S_IMODE(st.st_mode))
        if where == "directory" and os.path.lexists(os.path.join(path, "x")):
            os.unlink(os.path.join(path, "x"))


def run_as_can_write(user, path: str) -> bool:
    from attack_harness import run_as
    probe = f"import os; os.close(os.open({path!r}, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))"
    return run_as(user, [paths.PYTHON, "-I", "-c", probe]).returncode == 0


def test_C1_policy_is_a_symlink(mallory, policy):
    target = paths.POLICY + ".attack-target"
    os.rename(paths.POLICY, target)
    try:
        os.symlink(target, paths.POLICY)
        assert_refused(mallory, "symbolic link")
    finally:
        os.unlink(target)


def test_C1_policy_is_a_fifo_no_hang(mallory, policy):
    policy.remove()
    os.mkfifo(paths.POLICY, 0o644)
    started = time.monotonic()
    assert_refused(mallory, "not a regular file (a FIFO)")
    assert time.monotonic() - started < 10


def test_C1_policy_is_a_directory(mallory, policy):
    policy.remove()
    os.mkdir(paths.POLICY, 0o755)
    assert_refused(mallory, "is a directory")


def test_C1_policy_hardlinked(mallory, policy):
    other = os.path.join(paths.CONFIG_DIR, "attack-hardlink")
    os.link(paths.POLICY, other)
    try:
        assert_refused(mallory, "2 hard links")
    finally:
        os.unlink(other)


def test_C1_empty_policy(mallory, policy):
    policy.write("")
    assert_refused(mallory, "format version", "version = 1")


def test_C1_no_policy_means_not_enabled(mallory, policy):
    policy.remove()
    assert_refused(mallory, paths.POLICY, "not enabled", "policy.toml.example")


# -- C2: parse errors: the whole file refused, named by line --------------------------
@pytest.mark.parametrize("text, fragment", [
    (BASE_POLICY + "sudo = true\n", ":16: unknown key 'sudo'"),
    (BASE_POLICY.replace("\n", "\r\n"), ":1: carriage return"),
    (BASE_POLICY + "[lines.modem1]\n", ":16: TOML syntax"),
    (BASE_POLICY.replace("dial_seconds = 30", "dial_seconds = 99999"), ":15: dial_seconds = 99999 is out of range"),
    (BASE_POLICY + "# " + "x" * 100_000 + "\n", ":16: line is 100002 characters long"),
    (BASE_POLICY.replace('flags = ["debug"]', 'flags = ["debug", "plugin"]'), ":14: pppd flag 'plugin'"),
    (BASE_POLICY.replace('"pppt-eve"]', '"pppt-eve", "pppt-nosuchuser"]'), ":11: unknown user 'pppt-nosuchuser'"),
])
def test_C2_parse_errors(mallory, policy, text, fragment):
    policy.write(text)
    assert_refused(mallory, paths.POLICY + fragment)


@pytest.mark.parametrize("name", ["-d", "a b", ".hidden", "x..y", "Plugin", "a/b", "x" * 33])
def test_O7_policy_names_that_could_be_options_or_paths_are_refused(mallory, policy, name):
    # A peer name becomes pppd's `call NAME` and /etc/ppp/peers/NAME: a
    # dash-leading, dotted, spaced or slashed one is refused at load (O6, O7, O9).
    policy.write(BASE_POLICY.replace(f"[peers.{TEST_PEER}]", f'[peers.{TEST_PEER}]\n[peers."{name}"]'))
    assert_refused(mallory, paths.POLICY, f"peer name {name!r} is not allowed")


def test_C2_not_utf8(mallory, policy):
    with open(paths.POLICY, "ab") as out:
        out.write(b"# \xff\xfe\n")
    assert_refused(mallory, ":16: is not valid UTF-8")


def test_C2_ten_megabytes(mallory, policy):
    with open(paths.POLICY, "ab") as out:
        out.truncate(10 * 1024 * 1024)
    assert_refused(mallory, "more than the 262144 allowed")


# -- C3: torn reads while an admin tool rewrites the policy ---------------------------
def test_C3_concurrent_rewrites_give_whole_versions(mallory, policy):
    """While root renames two versions into place in a loop, every status answer lists
    the lines of one whole version: never a mix, never an error."""
    version_b = BASE_POLICY.replace("[peers.", '[lines.modem2]\ndevice = "/dev/ttyS1"\n\n[peers.')
    stop = threading.Event()

    def rewrite():
        flip = False
        while not stop.is_set():
            policy.write(version_b if flip else BASE_POLICY)
            flip = not flip

    thread = threading.Thread(target=rewrite)
    thread.start()
    counts = []
    try:
        for _ in range(12):
            answer = status(mallory)
            assert answer["ok"] is True, answer      # a torn or partial read would be a CONFIG error
            counts.append(len(answer["lines"]))      # status lists every line of the version it read
    finally:
        stop.set()
        thread.join()
    assert set(counts) <= {1, 2}, counts


# -- C4: admin strings that could reach pppd or a shell --------------------------------
@pytest.mark.parametrize("snippet, fragment", [
    ('[peers."isp;touch /tmp/pwned-C4"]\n', "peer name"),
    ('[peers."$(touch /tmp/pwned-C4b)"]\n', "peer name"),
    ('[peers."a b"]\n', "peer name"),
    ('[lines.m2]\ndevice = "/dev/ttyS1 plugin /tmp/x.so"\n', "not a plain absolute path"),
    ('[lines.m2]\ndevice = "/dev/ttyS1`touch /tmp/pwned-C4c`"\n', "not a plain absolute path"),
    ('[lines.m2]\ndevice = "/dev/ttyS1"\nreset = "ATZ\\r\\n+++ATH"\n', "control or invisible"),
])
def test_C4_shell_metacharacters_refused(mallory, policy, snippet, fragment):
    policy.write(BASE_POLICY + snippet)
    assert_refused(mallory, fragment)


# -- C5: pppd's companion files ----------------------------------------------------------
def test_C5_peer_owned_by_mallory(mallory, policy):
    with mode_of(PEER_FILE, owner=(mallory.uid, mallory.gid)):
        assert_refused(mallory, PEER_FILE, "owned by uid")


def test_C5_peer_group_writable(mallory, policy):
    with mode_of(PEER_FILE, 0o664):
        assert_refused(mallory, PEER_FILE, "writable by group or others")


def test_C5_peer_file_missing(mallory, policy):
    policy.write(BASE_POLICY.replace(f"[peers.{TEST_PEER}]", f"[peers.{TEST_PEER}]\n[peers.pppt-missing]"))
    assert_refused(mallory, os.path.join(paths.PEERS_DIR, "pppt-missing"), "does not exist")


def test_C5_peer_with_a_conflicting_option(mallory, policy):
    with open(PEER_FILE) as source:
        original = source.read()
    try:
        with open(PEER_FILE, "a") as out:
            out.write("connect '/bin/sh -c \"touch /tmp/pwned-C5\"'\n")
        assert_refused(mallory, PEER_FILE + ":3", "pppd option 'connect' conflicts")
    finally:
        with open(PEER_FILE, "w") as out:
            out.write(original)


def test_C5_peers_directory_writable(mallory, policy):
    with mode_of(paths.PEERS_DIR, 0o2777):
        assert_refused(mallory, paths.PEERS_DIR, "directory is writable")


def test_C5_global_options_writable(mallory, policy):
    options = os.path.join(os.path.dirname(paths.PEERS_DIR), "options")
    if not os.path.exists(options):
        pytest.skip("no /etc/ppp/options")
    with mode_of(options, 0o666):
        assert_refused(mallory, options, "writable by group or others")


def test_C5_ip_up_script_writable(mallory, policy):
    script = os.path.join(os.path.dirname(paths.PEERS_DIR), "ip-up")
    if not os.path.exists(script):
        pytest.skip("no /etc/ppp/ip-up")
    with mode_of(script, 0o777):
        assert_refused(mallory, script, "writable by group or others")


def test_C5_ip_up_d_entry_owned_by_mallory(mallory, policy):
    directory = os.path.join(os.path.dirname(paths.PEERS_DIR), "ip-up.d")
    os.makedirs(directory, exist_ok=True)
    hook = os.path.join(directory, "pppt-attack-hook")
    with open(hook, "w") as out:
        out.write("#!/bin/sh\ntouch /tmp/pwned-C5d\n")
    os.chown(hook, mallory.uid, mallory.gid)
    try:
        assert_refused(mallory, hook, "owned by uid")
    finally:
        os.unlink(hook)


# -- C6: no alternate policy path -------------------------------------------------------
def test_C6_environment_cannot_point_at_another_policy(mallory, policy, shared_tmp):
    evil = shared_tmp / "policy.toml"
    evil.write_text(BASE_POLICY)
    os.chown(evil, mallory.uid, mallory.gid)
    policy.remove()
    env = {"PATH": "/usr/bin:/bin", "PPPUP_POLICY": str(evil), "PPPUP_CONFIG_DIR": str(shared_tmp),
           "PYTHONPATH": str(shared_tmp)}
    result = raw(mallory, {"env": env}, STATUS)
    got = answers(result)
    assert got and got[0]["code"] == CONFIG and paths.POLICY in got[0]["message"], got
    assert str(evil) not in got[0]["message"]
