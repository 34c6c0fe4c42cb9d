"""pppup-policy check / explain / edit."""
import os
import stat
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

from pppup_protocol.errors import Code
from pppup_helper.admin import main

from policy.support import BASE

POLICY = BASE + """
[[rules]]
name = "weekdays"
users = ["bin"]
groups = ["adm"]
lines = ["modem1"]
peers = ["isp", "work"]
flags = ["novj", "defaultroute"]
idle = 600
maxconnect = 7200
hours = ["Mon-Fri 08:00-18:00"]
max_links = 1

[[rules]]
name = "weekend"
users = ["bin"]
lines = ["modem1", "modem2"]
peers = ["isp"]
hours = ["Sat,Sun 10:00-02:00"]
"""


def run(world, *args, input=None):
    result = CliRunner().invoke(main, ["--policy", world.policy, "--ppp-dir", world.ppp, *args],
                                input=input, catch_exceptions=False)
    return result


# -- check ---------------------------------------------------------------------
def test_check_valid(world):
    world.write_policy(POLICY)
    result = run(world, "check")
    assert result.exit_code == 0, result.output
    assert result.output == (f"{world.policy}: OK: 2 lines, 2 peers, 2 rules "
                             "(first matching rule wins; no matching rule means denied)\n")


def test_check_lists_every_problem(world):
    world.write_policy(POLICY.replace('users = ["bin"]', 'users = ["binn"]').replace("idle = 600", "idle = 0"))
    result = run(world, "check")
    assert result.exit_code == Code.CONFIG
    lines = result.output.splitlines()
    assert lines[0].startswith(f"{world.policy}:16: unknown user 'binn'; check the spelling")
    assert lines[1] == f"{world.policy}:21: idle = 0 is out of range; use 1 to 604800 seconds"
    assert lines[2].startswith(f"{world.policy}:28: unknown user 'binn'")
    assert lines[-1] == f"{world.policy}: 3 problems: pppup refuses every request until they are fixed"


def test_check_warns_about_rules_that_never_decide(world):
    shadowed = POLICY + """
[[rules]]
name = "too-late"
users = ["bin"]
lines = ["modem1"]
peers = ["work"]
hours = ["Tue 09:00-10:00"]

[[rules]]
name = "not-shadowed"
users = ["bin"]
lines = ["modem1"]
peers = ["work"]
hours = ["Tue 17:00-19:00"]
"""
    world.write_policy(shadowed)
    result = run(world, "check")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert warnings == ['warning: rule 3 "too-late" (policy.toml:33) never decides anything: rule 1 "weekdays" '
                        '(policy.toml:14) comes first and matches every request it would (first matching rule '
                        'wins; no matching rule means denied); move it up, narrow the earlier rule, or delete it']


def test_check_other_file_and_syntax_error(world):
    draft = world.write("draft.toml", "version = 1\n[lines.modem1\n")
    result = run(world, "check", draft)
    assert result.exit_code == Code.CONFIG
    assert result.output.startswith(f"{draft}:2: TOML syntax: ")


def test_check_refuses_an_unsafe_file_unless_content_only(world):
    draft = world.write("draft.toml", POLICY, mode=0o666)
    result = run(world, "check", draft)
    assert result.exit_code == Code.CONFIG and "writable by group or others" in result.output
    result = run(world, "check", "--content-only", draft)
    assert result.exit_code == 0, result.output


def test_check_missing_default_policy_says_how_to_enable(world, monkeypatch):
    monkeypatch.setattr("pppup_helper.policy.paths.POLICY", world.policy)
    result = run(world, "check")
    assert result.exit_code == Code.CONFIG and "pppup is not enabled" in result.output


def test_check_companion_problem(world):
    world.write_policy(POLICY)
    os.chmod(os.path.join(world.ppp, "peers", "work"), 0o664)
    result = run(world, "check")
    assert result.exit_code == Code.CONFIG
    assert result.output.startswith(os.path.join(world.ppp, "peers", "work") + ": ")


# -- explain -------------------------------------------------------------------
def test_explain_allowed_with_rule_and_limits(world):
    world.write_policy(POLICY)
    result = run(world, "explain", "--user", "bin", "--line", "modem1", "--peer", "work", "--at", "2024-05-07 17:00")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "user bin (uid 2), groups bin" in out and "at Tue 2024-05-07 17:00 local time" in out
    assert 'allowed by rule 1 "weekdays" (policy.toml:14)' in out
    assert "peers: isp, work" in out and "novj, defaultroute (system-wide)" in out
    assert "hours: Mon-Fri 08:00-18:00 (allowed now, until Tue 2024-05-07 18:00)" in out
    assert "idle 600 s; maxconnect 7200 s; links at once 1" in out
    assert "peer work: allowed by rule 1" in out and "maxconnect 3600 s (clipped to the end of the hours)" in out
    assert "may stop other users' links on this line: no" in out
    assert 'also names this user and line: rule 2 "weekend" (policy.toml:26), hours Sat,Sun 10:00-02:00' in out


def test_explain_denied_exits_4_and_says_why(world):
    world.write_policy(POLICY)
    result = run(world, "explain", "--user", "bin", "--at", "2024-05-08 20:00")
    assert result.exit_code == Code.DENIED
    assert "line modem1 (/dev/ttyS1)\n  denied: bin may not use line modem1 now (Wed 2024-05-08 20:00" in result.output
    assert "line modem2 (/dev/ttyS2)\n  denied: bin may not use line modem2 now" in result.output


def test_explain_day_and_time_and_other_rule(world):
    world.write_policy(POLICY)
    result = run(world, "explain", "-u", "bin", "-l", "modem2", "--at", "Sun 01:30")
    assert result.exit_code == 0, result.output
    assert 'allowed by rule 2 "weekend" (policy.toml:26)' in result.output
    assert "peers: isp" in result.output and "hours: Sat,Sun 10:00-02:00 (allowed now, until Sun" in result.output


def test_explain_peer_not_allowed(world):
    world.write_policy(POLICY)
    result = run(world, "explain", "-u", "bin", "-l", "modem2", "-p", "work", "--at", "Sat 12:00")
    assert result.exit_code == Code.DENIED
    assert "peer work: denied: bin may not start peer 'work' on line modem2" in result.output


def test_explain_groups_and_admins(world):
    world.write_policy(POLICY)
    result = run(world, "explain", "-u", "daemon", "--at", "Mon 09:00")
    assert result.exit_code == Code.DENIED  # daemon is an admin of modem1 but no rule grants it a line
    assert "daemon may stop other users' links" in result.output
    result = run(world, "explain", "-u", "root", "--at", "Mon 09:00")  # root: gid 0, in no rule's group
    assert result.exit_code == Code.DENIED


def test_explain_unknown_user_and_bad_time(world):
    world.write_policy(POLICY)
    assert run(world, "explain", "-u", "pppt-nosuchuser").exit_code == Code.USAGE
    result = run(world, "explain", "-u", "bin", "--at", "tomorrowish")
    assert result.exit_code == Code.USAGE and "YYYY-MM-DD HH:MM" in result.output


def test_explain_invalid_policy(world):
    world.write_policy(POLICY + "bogus = 1\n")
    result = run(world, "explain", "-u", "bin")
    assert result.exit_code == Code.CONFIG and "unknown key 'bogus'" in result.output


# -- edit (subprocess: a real console script, a real editor process) -------------
EDITOR = textwrap.dedent("""\
    import sys
    path = sys.argv[-1]
    with open(sys.argv[1]) as script:
        steps = script.read().split("\\n---\\n")
    count_file = sys.argv[1] + ".count"
    try:
        count = int(open(count_file).read())
    except FileNotFoundError:
        count = 0
    open(count_file, "w").write(str(count + 1))
    step = steps[min(count, len(steps) - 1)]
    if step.startswith("FAIL"):
        sys.exit(3)
    if step != "KEEP":
        open(path, "w").write(step)
""")


def edit(world, steps: list[str], stdin: str | None = None, tty: bool = False):
    """Run `pppup-policy edit` with an editor that writes steps[n] on its n-th run."""
    script = world.write("editor-steps", "\n---\n".join(steps))
    editor = world.write("editor.py", EDITOR)
    env = dict(os.environ, EDITOR=f"{sys.executable} {editor} {script}")
    env.pop("VISUAL", None)
    command = [os.path.join(os.path.dirname(sys.executable), "pppup-policy"), "--policy", world.policy,
               "--ppp-dir", world.ppp, "edit"]
    return subprocess.run(command, input=stdin, capture_output=True, text=True, env=env, timeout=60)


def leftovers(world):
    return sorted(name for name in os.listdir(world.root) if name.startswith(".policy.") and name != ".policy.lock")


def test_edit_installs_a_valid_policy_atomically(world):
    world.write_policy(BASE)
    before = os.stat(world.policy).st_ino
    result = edit(world, [POLICY])
    assert result.returncode == 0, result.stderr
    assert "installed: 2 lines, 2 peers, 2 rules" in result.stdout
    with open(world.policy) as installed:
        assert installed.read() == POLICY
    st = os.stat(world.policy)
    assert st.st_ino != before and st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o644
    assert leftovers(world) == []


def test_edit_refuses_an_invalid_file_non_interactively(world):
    world.write_policy(POLICY)
    result = edit(world, [POLICY + "idle = 0\n"])
    assert result.returncode == Code.CONFIG
    assert "not valid" in result.stderr and ":32: idle = 0 is out of range" in result.stderr
    assert "left unchanged" in result.stderr
    with open(world.policy) as kept:
        assert kept.read() == POLICY
    assert leftovers(world) == []


def test_edit_no_changes(world):
    world.write_policy(POLICY)
    result = edit(world, ["KEEP"])
    assert result.returncode == 0 and "no changes" in result.stdout


def test_edit_editor_failure_changes_nothing(world):
    world.write_policy(POLICY)
    result = edit(world, ["FAIL"])
    assert result.returncode == Code.FAILURE and "exited with status 3" in result.stderr
    with open(world.policy) as kept:
        assert kept.read() == POLICY
    assert leftovers(world) == []


def test_edit_starts_from_the_example_when_there_is_no_policy(world):
    world.write("policy.toml.example", BASE)
    result = edit(world, ["KEEP"])
    # The example, unchanged, is still a change from "no policy": it is validated and installed.
    assert result.returncode == 0, result.stderr
    with open(world.policy) as installed:
        assert installed.read() == BASE


def test_edit_re_edit_on_a_terminal(world):
    """Interactive: the first edit is invalid, the user answers 'e', the second is valid."""
    world.write_policy(BASE)
    script = world.write("editor-steps", "\n---\n".join([BASE + "oops = 1\n", POLICY]))
    editor = world.write("editor.py", EDITOR)
    command = [os.path.join(os.path.dirname(sys.executable), "pppup-policy"), "--policy", world.policy,
               "--ppp-dir", world.ppp, "edit"]
    env = dict(os.environ, EDITOR=f"{sys.executable} {editor} {script}")
    import pty
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(command[0], command, env)
    output = b""
    answered = False
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
        if not answered and b"What now?" in output:
            os.write(fd, b"e\n")
            answered = True
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, output.decode()
    assert b"unknown key 'oops'" in output and b"installed" in output
    with open(world.policy) as installed:
        assert installed.read() == POLICY


def test_edit_is_locked_against_a_concurrent_edit(world):
    import fcntl
    world.write_policy(POLICY)
    lock = os.open(os.path.join(world.root, ".policy.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = edit(world, [BASE])
        assert result.returncode == Code.BUSY and "someone else is editing" in result.stderr
    finally:
        os.close(lock)
    with open(world.policy) as kept:
        assert kept.read() == POLICY


def test_edit_refuses_an_unsafe_directory(world):
    world.write_policy(POLICY)
    os.chmod(world.root, 0o777)
    result = edit(world, [BASE])
    assert result.returncode == Code.CONFIG and "writable by group or others" in result.stderr


def test_not_root():
    if os.geteuid() != 0:
        pytest.skip("root runs the suite")
    result = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                             os.path.join(os.path.dirname(sys.executable), "pppup-policy"), "check"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == Code.USAGE and "run pppup-policy as root" in result.stderr


def test_the_helpers_policy_modules_do_not_import_click():
    """Only the console script imports admin.py (click); the helper's policy path stays lean."""
    code = ("import sys, pppup_helper.policy, pppup_helper.policy_locate, pppup_helper.policy_companions\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'click', 'serial', 'pppup', 'dataclasses',"
            " 'inspect', 'tomllib', 'difflib'}))\n")
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=60)
    # tomllib and difflib are imported only while loading or reporting errors.
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr


def test_check_draft_in_a_shared_sticky_directory_is_not_told_to_chmod_it(world):
    """/tmp-like directories are meant to stay world-writable: the advice is to
    move the file or check its text only, never to chmod the directory."""
    shared = os.path.join(world.root, "shared")
    os.mkdir(shared)
    os.chmod(shared, 0o1777)
    draft = os.path.join(shared, "draft.toml")
    with open(draft, "w") as out:
        out.write(POLICY)
    result = run(world, "check", draft)
    assert result.exit_code == Code.CONFIG
    assert "--content-only" in result.output and "chmod go-w" not in result.output
