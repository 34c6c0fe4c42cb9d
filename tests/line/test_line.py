"""Opening, pinning, DTR and revoking on real kernel ttys (ptys on the host).

Attack classes D1-D6 and F5.  DTR itself needs a UART: on ptys the kernel has
no modem-control lines, which is what these tests check; the VM tests cover
real DTR drops on 16550 UARTs.
"""
import errno
import fcntl
import os
import select
import stat
import subprocess
import sys
import tempfile
import termios
import threading
import time

import pytest

from pppup_protocol.errors import Code, PppupError
from pppup_helper import line as line_mod
from pppup_helper import syscalls
from pppup_helper.line import Line, resolve_device


@pytest.fixture
def root_dir():
    """A root-owned 0755 directory chain (unlike /tmp, which is world-writable)."""
    d = tempfile.mkdtemp(prefix="pppup-test-", dir="/run")
    os.chmod(d, 0o755)
    yield d
    subprocess.run(["rm", "-rf", d], check=True)


@pytest.fixture
def root_pty():
    master, slave = os.openpty()
    name = os.ttyname(slave)
    os.close(slave)
    yield master, name
    os.close(master)


def rdev_of(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return os.major(st.st_rdev), os.minor(st.st_rdev)


# ---------------------------------------------------------------- resolving
def test_root_owned_pty_is_a_line_only_when_marked_pty(root_pty):
    _, name = root_pty
    dev = resolve_device(name, None, pty=True)
    assert dev.path == name and dev.is_pty and dev.rdev == rdev_of(name) and dev.owner == 0
    with pytest.raises(PppupError) as e:
        resolve_device(name, None, pty=False)
    assert e.value.code == Code.LINE and "pty = true" in str(e.value)


def test_a_users_own_pty_never_passes(line_user):
    code = "import os,sys,time; m,s=os.openpty(); print(os.ttyname(s), flush=True); sys.stdin.read()"
    p = subprocess.Popen(line_user.setpriv() + [sys.executable, "-c", code], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    try:
        name = p.stdout.readline().strip()
        assert os.stat(name).st_uid == line_user.uid
        with pytest.raises(PppupError) as e:
            resolve_device(name, None, pty=True)
        assert f"owned by uid {line_user.uid}" in str(e.value)
    finally:
        p.stdin.close()
        p.wait(timeout=10)


@pytest.mark.parametrize("path", ["/dev/tty", "/dev/console", "/dev/null", "/dev/ptmx"])
def test_non_serial_character_devices_are_refused(path):
    with pytest.raises(PppupError) as e:
        resolve_device(path, None, pty=False)
    assert e.value.code == Code.LINE


def test_virtual_console_minor_of_the_serial_major_is_refused(root_dir):
    vt = os.path.join(root_dir, "tty1")
    os.mknod(vt, stat.S_IFCHR | 0o600, os.makedev(4, 1))
    with pytest.raises(PppupError) as e:
        resolve_device(vt, None, pty=False)
    assert "not a serial port" in str(e.value)


def test_uart_node_resolves_and_is_pinned(root_dir):
    node = os.path.join(root_dir, "ttyS1")
    os.mknod(node, stat.S_IFCHR | 0o660, os.makedev(4, 65))
    dev = resolve_device(node, None, pty=False)
    assert dev.rdev == (4, 65) and not dev.is_pty and dev.aliases == ()
    assert resolve_device(node, (4, 65), pty=False).rdev == (4, 65)
    with pytest.raises(PppupError) as e:
        resolve_device(node, (4, 66), pty=False)
    assert "pins 4:66" in str(e.value)
    with pytest.raises(PppupError):
        resolve_device(node, None, pty=True)     # a UART marked pty is a policy mistake


def test_policy_symlink_alias_is_resolved_by_the_helper(root_dir, root_pty):
    _, name = root_pty
    byid = os.path.join(root_dir, "serial", "by-id")
    os.makedirs(byid, mode=0o755)
    link = os.path.join(byid, "usb-Sim_Modem-if00")
    os.symlink("../../../../" + name.lstrip("/"), link)
    dev = resolve_device(link, None, pty=True)
    assert dev.path == name and dev.aliases == (link,)


def test_symlink_not_owned_by_root_is_refused(root_dir, root_pty):
    _, name = root_pty
    link = os.path.join(root_dir, "modem")
    os.symlink(name, link)
    os.lchown(link, 65534, 65534)
    with pytest.raises(PppupError) as e:
        resolve_device(link, None, pty=True)
    assert "not owned by root" in str(e.value)


def test_group_or_world_writable_directory_on_the_path_is_refused(root_dir, root_pty):
    _, name = root_pty
    sub = os.path.join(root_dir, "sub")
    os.mkdir(sub)
    os.symlink(name, os.path.join(sub, "modem"))
    for mode in (0o775, 0o757, 0o1777):
        os.chmod(sub, mode)
        with pytest.raises(PppupError) as e:
            resolve_device(os.path.join(sub, "modem"), None, pty=True)
        assert "writable by group/others" in str(e.value)
    with pytest.raises(PppupError):
        resolve_device("/tmp/anything", None, pty=True)   # /tmp is 1777


@pytest.mark.parametrize("kind", ["file", "fifo", "dir", "dangling", "loop"])
def test_wrong_objects_at_the_device_path_are_refused_without_hanging(root_dir, kind):
    path = os.path.join(root_dir, "modem")
    if kind == "file":
        open(path, "w").close()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "dir":
        os.mkdir(path)
    elif kind == "dangling":
        os.symlink("/nonexistent/ttyS9", path)
    else:
        os.symlink(path, path)
    t0 = time.monotonic()
    with pytest.raises(PppupError) as e:
        resolve_device(path, None, pty=False)
    assert e.value.code == Code.LINE
    assert time.monotonic() - t0 < 2


def test_world_writable_device_node_is_refused(root_dir):
    node = os.path.join(root_dir, "ttyS1")
    os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(4, 65))
    os.chmod(node, 0o666)
    with pytest.raises(PppupError) as e:
        resolve_device(node, None, pty=False)
    assert "writable by everyone" in str(e.value)


def test_relative_path_is_refused():
    with pytest.raises(PppupError):
        resolve_device("dev/ttyS1", None, pty=False)


# ----------------------------------------------------------------- opening
def test_open_gives_a_nonblocking_exclusive_pinned_tty_without_ctty(root_pty, line_user):
    _, name = root_pty
    ln = Line.open(resolve_device(name, None, pty=True))
    try:
        flags = fcntl.fcntl(ln.fd, fcntl.F_GETFL)
        assert flags & os.O_ACCMODE == os.O_RDWR and flags & os.O_NONBLOCK
        assert fcntl.fcntl(ln.fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
        assert os.isatty(ln.fd)
        os.chmod(name, 0o666)                  # let anyone try, so only TIOCEXCL stops them
        code = f"import os; os.open({name!r}, os.O_RDWR|os.O_NONBLOCK)"
        r = subprocess.run(line_user.setpriv() + [sys.executable, "-c", code], capture_output=True,
                           text=True, timeout=30)
        assert r.returncode != 0 and "Device or resource busy" in r.stderr   # D6: EBUSY
        os.close(os.open(name, os.O_RDWR | os.O_NONBLOCK))                  # root still may
    finally:
        ln.close()


CTTY_PROBE = """
import os, sys
from pppup_helper.line import Line, resolve_device
os.setsid()                       # a session leader without a controlling tty
if sys.argv[2] == "helper":
    Line.open(resolve_device(sys.argv[1], None, pty=True))
else:
    os.open(sys.argv[1], os.O_RDWR | os.O_NONBLOCK)   # what O_NOCTTY prevents
print(open("/proc/self/stat").read().rsplit(")", 1)[1].split()[4])   # tty_nr
"""


@pytest.mark.parametrize("how", ["helper", "plain-open"])
def test_opening_never_acquires_a_controlling_tty(root_pty, how):
    _, name = root_pty
    r = subprocess.run([sys.executable, "-c", CTTY_PROBE, name, how], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    if how == "helper":
        assert r.stdout.strip() == "0"
    else:   # the control: without O_NOCTTY the session leader would get the tty
        assert r.stdout.strip() == str(os.stat(name).st_rdev)


def test_open_refuses_a_node_swapped_for_a_symlink_after_resolution(root_dir, root_pty):
    _, name = root_pty
    node = os.path.join(root_dir, "modem")
    os.mknod(node, stat.S_IFCHR | 0o600, os.stat(name).st_rdev)
    dev = resolve_device(node, None, pty=True)
    os.unlink(node)
    os.symlink(name, node)            # same device behind a link now
    with pytest.raises(PppupError) as e:
        Line.open(dev)
    assert "cannot open" in str(e.value)


def test_open_refuses_a_node_replaced_by_another_device(root_dir, root_pty):
    _, name = root_pty
    node = os.path.join(root_dir, "modem")
    os.mknod(node, stat.S_IFCHR | 0o600, os.stat(name).st_rdev)
    dev = resolve_device(node, None, pty=True)
    os.unlink(node)
    os.mknod(node, stat.S_IFCHR | 0o600, os.makedev(1, 3))   # /dev/null's number
    with pytest.raises(PppupError) as e:
        Line.open(dev)
    assert "changed between resolving and opening" in str(e.value)


def test_reopen_is_a_separate_description_of_the_same_tty(root_pty):
    _, name = root_pty
    ln = Line.open(resolve_device(name, None, pty=True))
    try:
        other = ln.reopen()
        fcntl.fcntl(other, fcntl.F_SETFL, fcntl.fcntl(other, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        assert fcntl.fcntl(ln.fd, fcntl.F_GETFL) & os.O_NONBLOCK      # ours unaffected
        assert os.fstat(other).st_rdev == os.fstat(ln.fd).st_rdev
        os.close(other)
    finally:
        ln.close()


# ---------------------------------------------------------------- DTR, data
def test_pty_has_no_modem_control_lines_and_drop_dtr_says_so(root_pty):
    _, name = root_pty
    ln = Line.open(resolve_device(name, None, pty=True))
    try:
        assert ln.modem_bits() is None
        t0 = time.monotonic()
        assert ln.drop_dtr(5.0) == "no modem-control lines"
        assert time.monotonic() - t0 < 1      # no pointless hold without DTR
    finally:
        ln.close()


def _raw(fd: int) -> None:
    attrs = termios.tcgetattr(fd)
    attrs[3] &= ~(termios.ECHO | termios.ICANON)
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


def test_reset_command_is_sent_and_the_answer_awaited(root_pty):
    master, name = root_pty
    ln = Line.open(resolve_device(name, None, pty=True))
    _raw(ln.fd)
    got = bytearray()

    def modem():
        deadline = time.monotonic() + 5
        while b"\r" not in got and time.monotonic() < deadline:
            if select.select([master], [], [], 0.1)[0]:
                got.extend(os.read(master, 100))
        os.write(master, b"ATZ\r\r\nOK\r\n")
    t = threading.Thread(target=modem)
    t.start()
    try:
        assert ln.send_reset("ATZ") == "reset command answered OK"
    finally:
        t.join()
        ln.close()
    assert bytes(got) == b"ATZ\r"


def test_reset_command_gives_up_in_time_when_no_modem_answers(root_pty):
    _, name = root_pty
    ln = Line.open(resolve_device(name, None, pty=True))
    _raw(ln.fd)
    try:
        t0 = time.monotonic()
        assert ln.send_reset("ATZ", timeout=0.5) == "reset command got no answer"
        assert time.monotonic() - t0 < 1.5
    finally:
        ln.close()


def test_reset_command_cannot_stall_on_stopped_output(root_pty):
    _, name = root_pty
    ln = Line.open(resolve_device(name, None, pty=True))
    _raw(ln.fd)
    try:
        termios.tcflow(ln.fd, termios.TCOOFF)    # as a modem holding CTS low would
        t0 = time.monotonic()
        assert ln.send_reset("ATZ", timeout=0.5) == "reset command not sent: the line does not accept output"
        assert time.monotonic() - t0 < 1.5
    finally:
        ln.close()


def test_revoke_hangs_up_every_description_the_user_holds(root_pty):
    master, name = root_pty
    ln = Line.open(resolve_device(name, None, pty=True))
    client = ln.reopen()          # what the client is given
    dup_of_client = os.dup(client)  # what it may have duplicated
    try:
        ln.revoke()
        for fd in (client, dup_of_client):
            assert os.read(fd, 10) == b""           # hung up: end of file
            with pytest.raises(OSError) as e:
                os.write(fd, b"AT\r")
            assert e.value.errno == errno.EIO
            with pytest.raises(termios.error):
                termios.tcgetattr(fd)
    finally:
        os.close(client)
        os.close(dup_of_client)
        ln.close()


def test_revoke_needs_cap_sys_admin_so_only_the_helper_can_do_it(root_pty, line_user):
    _, name = root_pty
    os.chmod(name, 0o666)
    code = (f"import os,fcntl; fd=os.open({name!r}, os.O_RDWR|os.O_NOCTTY|os.O_NONBLOCK); "
            f"fcntl.ioctl(fd, {syscalls.TIOCVHANGUP})")
    r = subprocess.run(line_user.setpriv() + [sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode != 0 and "Operation not permitted" in r.stderr


def test_closed_line_refuses_operations(root_pty):
    _, name = root_pty
    ln = Line.open(resolve_device(name, None, pty=True))
    ln.close()
    ln.close()          # idempotent
    with pytest.raises(PppupError):
        ln.revoke()


def test_a_line_hung_up_by_the_kernel_is_detected_and_renewed(root_pty):
    master, name = root_pty
    ln = Line.open(resolve_device(name, None, pty=True))
    try:
        assert ln.hung_up() is False
        other = os.open(name, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        fcntl.ioctl(other, syscalls.TIOCVHANGUP)   # what pppd's exit as ctty owner does
        os.close(other)
        assert ln.hung_up() is True
        ln.renew()
        assert ln.hung_up() is False
        os.write(ln.fd, b"ATZ\r")
        assert os.read(master, 10) == b"ATZ\r"
    finally:
        ln.close()
