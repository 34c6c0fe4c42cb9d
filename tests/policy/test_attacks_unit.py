"""Attack class C (policy tampering) against the loader, as unit tests (security.md C1-C6).

The same classes run against the installed setuid shim in tests/attacks/
(test_policy_attacks.py); here each variant is checked directly on
load_policy so the message and the fix are asserted too.
"""
import os
import subprocess
import sys
import threading

import pytest

from pppup_protocol import paths
from pppup_helper.policy import MAX_POLICY_BYTES, PolicyError, load_policy, read_policy

from policy.support import BASE

GOOD = BASE + """
[[rules]]
users = ["bin"]
lines = ["modem1"]
peers = ["isp"]
"""
NOBODY = 65534


def refused(world, fragment: str, fix: str | None = None, path: str | None = None) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        load_policy(world.policy, ppp_dir=world.ppp)
    error = info.value
    assert fragment in error.problem, str(error)
    if fix is not None:
        assert fix in error.fix, str(error)
    if path is not None:
        assert error.path == path, str(error)
    return error


# -- C1: ownership, mode, type, links ------------------------------------------
def test_good_policy_loads(world):
    world.write_policy(GOOD)
    assert load_policy(world.policy, ppp_dir=world.ppp).rules


def test_owned_by_a_user(world):
    os.chown(world.write_policy(GOOD), NOBODY, 0)
    refused(world, "owned by uid 65534, not root", "chown root:root")


@pytest.mark.parametrize("mode", [0o664, 0o646, 0o666, 0o620])
def test_group_or_other_writable(world, mode):
    world.write_policy(GOOD)
    os.chmod(world.policy, mode)
    refused(world, "writable by group or others", "chmod go-w")


def test_group_dialout_writable(world):
    world.write_policy(GOOD)
    os.chown(world.policy, 0, 20)
    os.chmod(world.policy, 0o664)
    refused(world, "writable by group or others")


def test_private_modes_are_fine(world):
    world.write_policy(GOOD)
    for mode in (0o600, 0o640, 0o444, 0o400):
        os.chmod(world.policy, mode)
        load_policy(world.policy, ppp_dir=world.ppp)


def test_symlink_to_a_good_file(world):
    real = world.write("real.toml", GOOD)
    os.unlink(world.write_policy(GOOD))
    os.symlink(real, world.policy)
    refused(world, "symbolic link", "replace the link")


def test_fifo_does_not_hang(world):
    os.mkfifo(world.policy, 0o644)
    refused(world, "not a regular file (a FIFO)")


def test_directory(world):
    os.mkdir(world.policy, 0o755)
    refused(world, "is a directory")


def test_device(world):
    os.symlink("/dev/null", world.policy)  # a link: refused before any open of the target
    refused(world, "symbolic link")
    os.unlink(world.policy)
    os.mknod(world.policy, 0o644 | 0o020000, os.makedev(1, 3))  # a char device node for /dev/null
    refused(world, "not a regular file (a character device)")


def test_hardlink(world):
    world.write_policy(GOOD)
    os.link(world.policy, os.path.join(world.root, "other-name"))
    refused(world, "2 hard links", "cp ")


def test_empty_file(world):
    world.write_policy("")
    refused(world, "does not say its format version", "version = 1")


def test_missing_file(world):
    refused(world, "policy file does not exist")


@pytest.mark.parametrize("mode", [0o775, 0o757, 0o777, 0o1777])
def test_parent_directory_writable(world, mode):
    world.write_policy(GOOD)
    os.chmod(world.root, mode)
    refused(world, "directory is writable by group or others", path=world.root)


def test_parent_directory_owned_by_a_user(world):
    world.write_policy(GOOD)
    os.chown(world.root, NOBODY, 0)
    refused(world, "directory is owned by uid 65534", path=world.root)


def test_parent_directory_is_a_symlink(world):
    world.write_policy(GOOD)
    link = world.root + "-link"
    os.symlink(world.root, link)
    try:
        with pytest.raises(PolicyError) as info:
            load_policy(os.path.join(link, "policy.toml"), ppp_dir=world.ppp)
        assert "symbolic link" in info.value.problem and info.value.path == link
    finally:
        os.unlink(link)


def test_dot_dot_in_path(world):
    world.write_policy(GOOD)
    with pytest.raises(PolicyError, match=r"'\.\.'"):
        load_policy(world.root + "/../" + os.path.basename(world.root) + "/policy.toml", ppp_dir=world.ppp)


# -- C2: parse errors: the whole file is refused, with the line -----------------
def test_crlf(world):
    world.write_policy(GOOD.replace("\n", "\r\n"))
    error = refused(world, "carriage return", "sed -i")
    assert error.line == 1


def test_not_utf8(world):
    world.write_policy(GOOD.encode().replace(b'"/dev/ttyS2"', b'"/dev/tty\xffS2"'))
    error = refused(world, "not valid UTF-8 (byte 0xff at column 19)", "UTF-8")
    assert error.line == 9


def test_byte_order_mark(world):
    world.write_policy(b"\xef\xbb\xbf" + GOOD.encode())
    assert refused(world, "byte-order mark").line == 1


@pytest.mark.parametrize("char", ["\x00", "\x1b", "\x7f", "\x85", "\u202e", "\u2066"])
def test_control_and_invisible_characters(world, char):
    world.write_policy(GOOD.replace("[peers.isp]", f"# comment {char}\n[peers.isp]"))
    assert refused(world, "control or invisible character").line == 11


def test_100k_line(world):
    world.write_policy(GOOD + "# " + "x" * 100_000 + "\n")
    assert refused(world, "characters long", "split").line == 18


def test_10_megabyte_file_refused_before_reading(world):
    path = world.write_policy(b"")
    with open(path, "wb") as out:
        out.truncate(10 * 1024 * 1024)
    refused(world, f"more than the {MAX_POLICY_BYTES} allowed", "shorten")


def test_unknown_key_refuses_everything(world):
    world.write_policy(GOOD + "sudo = true\n")
    refused(world, "unknown key 'sudo'")


def test_deep_nesting(world):
    world.write_policy("version = 1\nx = " + "[" * 3000 + "]" * 3000 + "\n")
    with pytest.raises(PolicyError):
        load_policy(world.policy, ppp_dir=world.ppp)


def test_no_file_descriptors_left_fails_closed(world):
    """R1: with the fd limit exhausted, loading refuses (PolicyError), never crashes or allows."""
    world.write_policy(GOOD)
    code = ("import resource, sys\n"
            "from pppup_helper.policy import load_policy, PolicyError\n"
            "import tomllib, pppup_helper.policy_locate\n"
            "resource.setrlimit(resource.RLIMIT_NOFILE, (FD_CAP, FD_CAP))\n"
            "try:\n    load_policy(sys.argv[1], ppp_dir=sys.argv[2])\n"
            "except PolicyError as e:\n    print('refused:', e)\nelse:\n    print('loaded')\n")
    outcomes = set()
    for limit in range(3, 9):
        out = subprocess.run([sys.executable, "-c", code.replace("FD_CAP", str(limit)), world.policy, world.ppp],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and not out.stderr, out.stderr
        assert out.stdout.startswith(("refused:", "loaded")), out.stdout
        outcomes.add(out.stdout.split(":")[0].strip())
        if out.stdout.startswith("refused:"):
            assert "too many open files" in out.stdout, out.stdout
    assert "refused" in outcomes


# -- C3: torn reads -----------------------------------------------------------
def test_concurrent_replacement_never_gives_a_mixed_policy(world):
    """An admin tool renames new versions into place while the helper loads: every
    load sees one whole version (read once from one fd), never a mix."""
    version_a = GOOD.replace('users = ["bin"]', 'users = ["bin"]\nidle = 111')
    version_b = GOOD.replace('users = ["bin"]', 'users = ["bin"]\nidle = 222\nmaxconnect = 222')
    world.write_policy(version_a)
    stop = threading.Event()

    def writer():
        flip = False
        while not stop.is_set():
            text = version_b if flip else version_a
            temp = world.write("policy.new", text)
            os.rename(temp, world.policy)
            flip = not flip

    thread = threading.Thread(target=writer)
    thread.start()
    seen = set()
    try:
        for _ in range(400):
            rule = load_policy(world.policy, ppp_dir=world.ppp).rules[0]
            assert (rule.idle, rule.maxconnect) in ((111, None), (222, 222))
            seen.add(rule.idle)
    finally:
        stop.set()
        thread.join()
    assert seen == {111, 222}


def test_growing_file_is_caught_by_the_read_cap(world, monkeypatch):
    """fstat said small, but the read returns more than the cap: refused, not truncated."""
    world.write_policy(GOOD)
    real_read = os.read

    def growing_read(fd, size):
        data = real_read(fd, size)
        return data + b"#" * (MAX_POLICY_BYTES + 10) if data else data

    monkeypatch.setattr(os, "read", growing_read)
    with pytest.raises(PolicyError, match="grew beyond"):
        read_policy(world.policy)


# -- C4: admin strings that could reach pppd or a shell -----------------------
@pytest.mark.parametrize("snippet, fragment", [
    ('[peers."isp;id>/tmp/p"]\n', "peer name"),
    ('[peers."a b"]\n', "peer name"),
    ('[peers."-plugin"]\n', "peer name"),
    ('[peers."isp\\nplugin"]\n', "peer name"),
    ('[peers."$(id)"]\n', "peer name"),
    ('[lines.m3]\ndevice = "/dev/ttyS0 plugin"\n', "not a plain absolute path"),
    ('[lines.m3]\ndevice = "/dev/ttyS`id`"\n', "not a plain absolute path"),
    ('[lines.m3]\ndevice = "/dev/-ttyS3"\n', "not a plain absolute path"),
    ('[lines."$(reboot)"]\ndevice = "/dev/ttyS3"\n', "line name"),
    ('[lines.m3]\ndevice = "/dev/ttyS3"\nreset = "ATZ\\u000a+++"\n', "control or invisible"),
])
def test_shell_metacharacters_are_refused(world, snippet, fragment):
    world.write_policy(GOOD + snippet)
    refused(world, fragment)


# -- C5: companion files of pppd ----------------------------------------------
def test_peer_file_missing(world):
    os.unlink(os.path.join(world.ppp, "peers", "isp"))
    world.write_policy(GOOD)
    refused(world, "peer file does not exist", "remove the peer from the policy",
            path=os.path.join(world.ppp, "peers", "isp"))


@pytest.mark.parametrize("relative, make_bad, fragment", [
    ("peers/isp", lambda p: os.chown(p, NOBODY, 0), "owned by uid 65534"),
    ("peers/isp", lambda p: os.chmod(p, 0o666), "writable by group or others"),
    ("peers", lambda p: os.chmod(p, 0o777), "directory is writable"),
    ("peers", lambda p: os.chmod(p, 0o2770), "directory is writable"),
    ("options", lambda p: os.chmod(p, 0o646), "writable by group or others"),
    ("options", lambda p: os.chown(p, NOBODY, NOBODY), "owned by uid 65534"),
    ("ip-up", lambda p: os.chmod(p, 0o757), "writable by group or others"),
    ("ip-down", lambda p: os.chown(p, NOBODY, 0), "owned by uid"),
    ("ip-up.d/00hook", lambda p: os.chmod(p, 0o777), "writable by group or others"),
    ("ip-up.d", lambda p: os.chmod(p, 0o777), "directory is writable"),
    ("pap-secrets", lambda p: os.chmod(p, 0o666), "writable by group or others"),
    ("chap-secrets", lambda p: os.chown(p, NOBODY, 0), "owned by uid"),
    ("", lambda p: os.chmod(p, 0o777), "directory is writable"),
])
def test_companion_file_tampering(world, relative, make_bad, fragment):
    os.makedirs(os.path.join(world.ppp, "ip-up.d"), exist_ok=True)
    for name in ("ip-up", "ip-down", "ip-up.d/00hook", "pap-secrets", "chap-secrets"):
        world.write(f"ppp/{name}", "#!/bin/sh\n", mode=0o600 if "secrets" in name else 0o755)
    world.write_policy(GOOD)
    load_policy(world.policy, ppp_dir=world.ppp)  # fine before the tampering
    target = os.path.join(world.ppp, relative) if relative else world.ppp
    make_bad(target)
    refused(world, fragment, path=target.rstrip("/"))


def test_peer_that_is_a_symlink(world):
    peer = os.path.join(world.ppp, "peers", "isp")
    os.rename(peer, peer + ".real")
    os.symlink(peer + ".real", peer)
    world.write_policy(GOOD)
    refused(world, "symbolic link", path=peer)


def test_tty_options_file_is_checked(world):
    # pppd reads /etc/ppp/options.<tty> for the line on its stdin (checked with pppd 2.4.9).
    policy = GOOD.replace('device = "/dev/ttyS1"', 'device = "/dev/null-line"')
    world.write_policy(policy.replace("/dev/null-line", "/dev/pts/ptmx-not"))  # sanity: no such device → no file
    os.makedirs(world.ppp, exist_ok=True)
    import pty
    master, slave = pty.openpty()
    try:
        name = os.ttyname(slave)
        options = world.write("ppp/options." + name[len("/dev/"):].replace("/", "."), "novj\n", mode=0o666)
        world.write_policy(GOOD.replace('[lines.modem2]', f'[lines.soft]\ndevice = "{name}"\npty = true\n[lines.modem2]'))
        refused(world, "writable by group or others", path=options)
        os.chmod(options, 0o644)
        load_policy(world.policy, ppp_dir=world.ppp)
    finally:
        os.close(master)
        os.close(slave)


@pytest.mark.parametrize("peer_text, word, line", [
    ("noauth\n/dev/modem\n", "/dev/modem", 2),
    ("noauth\nttyS0 115200\n", "ttyS0", 2),
    ("persist\n", "persist", 1),
    ("# comment\n\ndemand\n", "demand", 3),
    ('connect "/usr/sbin/chat -v -f /etc/chatscripts/pap"\n', "connect", 1),
    ("init 'chat x'\n", "init", 1),
    ("pty 'ssh host pppd'\n", "pty", 1),
    ("notty\n", "notty", 1),
])
def test_peer_words_that_break_pppups_model(world, peer_text, word, line):
    world.write("ppp/peers/isp", peer_text)
    world.write_policy(GOOD)
    error = refused(world, f"pppd option '{word}' conflicts with pppup", f"remove '{word}'")
    assert error.line == line and error.path.endswith("/peers/isp")


def test_peer_words_in_comments_quotes_and_arguments_are_not_options(world):
    world.write("ppp/peers/isp", '# persist demand /dev/ttyS0\nnoauth   # connect later\n'
                'ipparam "persist"\nremotename \'/dev/x\'\nplugin /dev/not-a-device-arg.so\n'
                'user "connect me"\nname ttyS9\n')
    world.write_policy(GOOD)
    load_policy(world.policy, ppp_dir=world.ppp)
    world.write("ppp/peers/isp", 'ipparam "x"\n  "persist"\n')  # the second word is an option again
    assert refused(world, "pppd option 'persist'").line == 2


def test_included_option_files_are_checked(world):
    included = world.write("ppp/extra-options", "novj\n", mode=0o666)
    world.write("ppp/peers/isp", f"noauth\nfile {included}\n")
    world.write_policy(GOOD)
    error = refused(world, "writable by group or others")
    assert error.path.endswith("/peers/isp") and error.line == 2 and included in error.problem


def test_every_companion_problem_is_reported(world):
    world.write("ppp/peers/isp", "persist\n", mode=0o666)
    world.write("ppp/peers/work", "persist\n")
    world.write_policy(GOOD.replace('peers = ["isp"]', 'peers = ["isp", "work"]'))
    with pytest.raises(PolicyError) as info:
        load_policy(world.policy, ppp_dir=world.ppp)
    problems = [(os.path.basename(e.path), e.problem) for e in info.value.errors]
    assert problems == [("isp", "peer file is writable by group or others (mode 0666)"),
                        ("work", "pppd option 'persist' conflicts with pppup: pppup supervises the link and "
                                 "never lets pppd redial or wait for traffic by itself")]
    assert "and 1 more problem" in str(info.value)


def test_real_debian_provider_peer_is_refused_with_every_reason(world):
    provider = "/etc/ppp/peers/provider"
    if not os.path.exists(provider):
        pytest.skip("Debian's example peer file is not installed")
    with open(provider) as source:
        world.write("ppp/peers/isp", source.read())
    world.write_policy(GOOD)
    with pytest.raises(PolicyError) as info:
        load_policy(world.policy, ppp_dir=world.ppp)
    words = {e.problem.split("'")[1] for e in info.value.errors}
    assert {"connect", "/dev/modem", "persist"} <= words


# -- C6: no alternate policy path ---------------------------------------------
def test_no_alternate_path_from_the_environment(world):
    """load_policy() reads only the compiled-in path, whatever the environment says."""
    world.write_policy(GOOD)
    code = ("from pppup_helper.policy import load_policy, PolicyError\n"
            "try:\n    load_policy()\nexcept PolicyError as e:\n    print(e.path)\nelse:\n    print('loaded')\n")
    env = dict(os.environ, PPPUP_POLICY=world.policy, PPPUP_CONFIG_DIR=world.root, POLICY=world.policy)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    real_policy_exists = os.path.exists(paths.POLICY)
    if not real_policy_exists:
        assert out.stdout.strip() == paths.POLICY
    else:  # an installed policy: whatever happens, the path used is the compiled-in one
        assert out.stdout.strip() in ("loaded", paths.POLICY) or out.stdout.startswith("/etc/")


def test_load_policy_takes_no_path_from_argv():
    import inspect
    signature = inspect.signature(load_policy)
    assert signature.parameters["path"].default == paths.POLICY
