"""UUCP locks in a private lock directory on the real file system (attack classes L1-L7, X2)."""
import os
import stat
import subprocess
import sys
import textwrap
import time

import pytest

from pppup_protocol.errors import Code, PppupError
from pppup_helper import uucplock
from pppup_helper.uucplock import LockBusy, LockDir, LockState, UucpLock


def _stat_with_rdev(st_dev: int, major: int, minor: int) -> os.stat_result:
    # os.stat_result takes the 10 visible fields plus a dict of the extra ones.
    return os.stat_result((stat.S_IFCHR | 0o660, 1, st_dev, 1, 0, 20, 0, 0, 0, 0),
                          {"st_rdev": os.makedev(major, minor)})


@pytest.fixture
def lockdir(tmp_path):
    d = tmp_path / "lock"
    d.mkdir(mode=0o1777)
    os.chmod(d, 0o1777)
    ld = LockDir(str(d), serial_path=str(tmp_path / "lockdir.lock"))
    yield ld
    ld.close()


@pytest.fixture
def sleeper():
    procs = []

    def start(user=None) -> subprocess.Popen:
        argv = ["sleep", "60"]
        if user is not None:
            argv = user.setpriv() + argv
        p = subprocess.Popen(argv)
        procs.append(p)
        deadline = time.monotonic() + 10
        while open(f"/proc/{p.pid}/comm").read().strip() != "sleep":   # exec'd by setpriv
            assert time.monotonic() < deadline
            time.sleep(0.01)
        return p
    yield start
    for p in procs:
        p.terminate()
        p.wait()


def dead_pid() -> int:
    p = subprocess.Popen(["/bin/true"])
    p.wait()
    return p.pid


def write_lock(lockdir: LockDir, name: str, content: bytes) -> str:
    path = os.path.join(lockdir.path, name)
    with open(path, "wb") as f:
        f.write(content)
    return path


# ------------------------------------------------------------------ names
def test_names_for_a_plain_serial_port():
    node = _stat_with_rdev(os.makedev(0, 6), 4, 65)
    assert uucplock.lock_names("/dev/ttyS1", node) == ("LCK..ttyS1", "LK.000.004.065")


def test_names_for_a_nested_device_cover_pppd_mgetty_and_lockdev():
    node = _stat_with_rdev(os.makedev(0, 6), 188, 0)
    assert uucplock.lock_names("/dev/usb/ttyUSB0", node) == (
        "LCK..usb_ttyUSB0",    # pppd
        "LCK..ttyUSB0",        # mgetty, wvdial, minicom
        "LCK..usb:ttyUSB0",    # lockdev
        "LK.000.188.000",      # lockdev / SVR4
    )


def test_alias_names_are_added_for_a_policy_symlink():
    node = _stat_with_rdev(os.makedev(0, 6), 188, 1)
    names = uucplock.lock_names("/dev/ttyUSB1", node, ["/dev/serial/by-id/usb-FTDI_X-if00-port0"])
    assert names == ("LCK..ttyUSB1", "LCK..serial_by-id_usb-FTDI_X-if00-port0",
                     "LCK..usb-FTDI_X-if00-port0", "LCK..serial:by-id:usb-FTDI_X-if00-port0",
                     "LK.000.188.001")


def test_names_for_a_pty_slave():
    node = _stat_with_rdev(os.makedev(0, 24), 136, 3)
    assert uucplock.lock_names("/dev/pts/3", node) == (
        "LCK..pts_3", "LCK..3", "LCK..pts:3", "LK.000.136.003")


def test_svr4_name_uses_the_real_device_node_identity():
    # A real node, not /dev/null: some images ship that as a regular file.
    # Unix98 pty slaves are char major 136 + n // 256, minor n % 256.
    master, slave = os.openpty()
    try:
        path = os.ttyname(slave)
        n = int(path.rsplit("/", 1)[1])
        st = os.stat(path)
    finally:
        os.close(master)
        os.close(slave)
    assert uucplock.svr4_name(st) == f"LK.{os.major(st.st_dev):03d}.{136 + n // 256:03d}.{n % 256:03d}"


def test_lock_names_refuse_non_character_devices(tmp_path):
    with pytest.raises(PppupError) as e:
        uucplock.lock_names(str(tmp_path), os.stat(tmp_path))
    assert e.value.code == Code.LINE


@pytest.mark.parametrize("data,expected", [
    (b"      1234\n", 1234), (b"1234\n", 1234), (b"1234", 1234), (b"         0\n", 0),
    (b"4194304\n", 4194304),
    (b"", None), (b"\n", None), (b"-1\n", None), (b"0x10\n", None), (b" 1_000\n", None),
    ("١٢٣\n".encode(), None), (b"1e3\n", None), (b"12abc\n", None), (b"4294967296\n", None),
    (b"4194305\n", None), (b"00000000001\n", None), (b"\x00\x00\x10\x00", None),
    (b"12\n\n", None), (b"12 \n", None), (b"\t12\n", None),
])
def test_parse_pid_is_strict(data, expected):
    assert uucplock.parse_pid(data) == expected


# ----------------------------------------------------------- acquire/release
def test_acquire_writes_every_name_complete_root_owned_0644_whatever_the_umask(lockdir):
    names = ("LCK..ttyS1", "LK.000.004.065")
    old = os.umask(0o077)
    try:
        lock = UucpLock.acquire(lockdir, "/dev/ttyS1", names)
    finally:
        os.umask(old)
    for name in names:
        st = os.lstat(os.path.join(lockdir.path, name))
        assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o644
        assert st.st_uid == 0 and st.st_nlink == 1
        assert open(os.path.join(lockdir.path, name), "rb").read() == b"%10d\n" % os.getpid()
    # no temporary files left behind
    assert sorted(os.listdir(lockdir.path)) == sorted(names)
    lock.release()
    assert os.listdir(lockdir.path) == []
    assert lock.release() == []   # idempotent


def test_busy_lock_names_its_holder_and_nothing_is_left_behind(lockdir, sleeper, line_user):
    holder = sleeper(user=line_user)
    write_lock(lockdir, "LK.000.004.065", b"%10d\n" % holder.pid)
    with pytest.raises(LockBusy) as e:
        UucpLock.acquire(lockdir, "/dev/ttyS1", ("LCK..ttyS1", "LK.000.004.065"))
    assert e.value.code == Code.BUSY
    msg = str(e.value)
    assert f"pid {holder.pid}" in msg and f"user {line_user.name}" in msg and "'sleep'" in msg
    assert e.value.holder.uid == line_user.uid
    # the first name was created, then rolled back
    assert os.listdir(lockdir.path) == ["LK.000.004.065"]


def test_pid_one_is_a_live_holder_no_takeover(lockdir):
    path = write_lock(lockdir, "LCK..ttyS1", b"         1\n")
    with pytest.raises(LockBusy) as e:
        UucpLock.acquire(lockdir, "/dev/ttyS1", ("LCK..ttyS1",))
    assert "pid 1" in str(e.value)
    assert open(path, "rb").read() == b"         1\n"


def test_stale_lock_of_a_dead_process_is_replaced(lockdir):
    write_lock(lockdir, "LCK..ttyS1", b"%10d\n" % dead_pid())
    os.chown(os.path.join(lockdir.path, "LCK..ttyS1"), 65534, 65534)   # a user's crashed minicom
    lock = UucpLock.acquire(lockdir, "/dev/ttyS1", ("LCK..ttyS1",))
    assert lockdir.inspect("LCK..ttyS1").state is LockState.OURS
    assert os.lstat(os.path.join(lockdir.path, "LCK..ttyS1")).st_uid == 0
    lock.release()


@pytest.mark.parametrize("content", [b"", b"garbage\n", b"-1\n", b"         0\n", b"12abc\n",
                                     b"4294967296\n", b"\x00\x00\x10\x00"])
def test_unparsable_or_zero_pid_lock_is_stale_after_the_grace(lockdir, content):
    write_lock(lockdir, "LCK..ttyS1", content)
    t0 = time.monotonic()
    lock = UucpLock.acquire(lockdir, "/dev/ttyS1", ("LCK..ttyS1",))
    if content != b"         0\n":
        assert time.monotonic() - t0 >= uucplock.INVALID_GRACE_S
    assert lockdir.inspect("LCK..ttyS1").state is LockState.OURS
    lock.release()


def test_leftover_lock_with_our_own_pid_is_replaced_by_our_inode(lockdir):
    path = write_lock(lockdir, "LCK..ttyS1", b"%10d\n" % os.getpid())
    with open(path, "rb") as old:     # held open so its inode number cannot be reused
        lock = UucpLock.acquire(lockdir, "/dev/ttyS1", ("LCK..ttyS1",))
        assert os.fstat(old.fileno()).st_nlink == 0
        assert os.lstat(path).st_ino != os.fstat(old.fileno()).st_ino
    lock.release()
    assert not os.path.exists(path)


# ----------------------------------------------------------- unsafe objects
def test_symlink_at_lock_path_is_reported_not_followed(lockdir, tmp_path):
    victim = tmp_path / "shadow"
    victim.write_bytes(b"root:secret\n")
    os.symlink(victim, os.path.join(lockdir.path, "LCK..ttyS1"))
    with pytest.raises(PppupError) as e:
        UucpLock.acquire(lockdir, "/dev/ttyS1", ("LK.000.004.065", "LCK..ttyS1"))
    assert e.value.code == Code.LINE and "symbolic link" in str(e.value)
    assert victim.read_bytes() == b"root:secret\n"
    assert os.path.islink(os.path.join(lockdir.path, "LCK..ttyS1"))
    assert sorted(os.listdir(lockdir.path)) == ["LCK..ttyS1"]   # LK. rolled back


def test_dangling_symlink_is_refused_and_nothing_is_created_at_its_target(lockdir, tmp_path):
    target = tmp_path / "created-through-link"
    os.symlink(target, os.path.join(lockdir.path, "LCK..ttyS1"))
    with pytest.raises(PppupError):
        UucpLock.acquire(lockdir, "/dev/ttyS1", ("LCK..ttyS1",))
    assert not target.exists()


def test_fifo_at_lock_path_does_not_hang_and_is_refused(lockdir):
    os.mkfifo(os.path.join(lockdir.path, "LCK..ttyS1"))
    t0 = time.monotonic()
    with pytest.raises(PppupError) as e:
        UucpLock.acquire(lockdir, "/dev/ttyS1", ("LCK..ttyS1",))
    assert time.monotonic() - t0 < 3
    assert "FIFO" in str(e.value)
    assert stat.S_ISFIFO(os.lstat(os.path.join(lockdir.path, "LCK..ttyS1")).st_mode)


def test_directory_at_lock_path_is_refused(lockdir):
    os.mkdir(os.path.join(lockdir.path, "LCK..ttyS1"))
    with pytest.raises(PppupError) as e:
        UucpLock.acquire(lockdir, "/dev/ttyS1", ("LCK..ttyS1",))
    assert "directory" in str(e.value)


def test_hardlinked_lock_file_is_never_removed_even_if_stale(lockdir, tmp_path):
    other = tmp_path / "precious"
    other.write_bytes(b"%10d\n" % dead_pid())
    os.link(other, os.path.join(lockdir.path, "LCK..ttyS1"))
    with pytest.raises(PppupError) as e:
        UucpLock.acquire(lockdir, "/dev/ttyS1", ("LCK..ttyS1",))
    assert e.value.code == Code.LINE and "2 links" in str(e.value)
    assert os.lstat(other).st_nlink == 2


def test_a_second_link_that_goes_away_within_the_grace_is_waited_for(lockdir, tmp_path):
    """lockdev publishes by link() and then unlinks its temporary name: for a
    moment the lock has two links.  That moment passes; it is not an attack."""
    path = write_lock(lockdir, "LCK..ttyS1", b"%10d\n" % dead_pid())
    temp = os.path.join(lockdir.path, "LTMP.4242")
    os.link(path, temp)
    remover = subprocess.Popen(["sh", "-c", f"sleep 0.1; rm -f {temp}"])
    lock = UucpLock.acquire(lockdir, "/dev/ttyS1", ("LCK..ttyS1",))
    remover.wait()
    assert lockdir.inspect("LCK..ttyS1").state is LockState.OURS
    lock.release()
    assert os.listdir(lockdir.path) == []


def test_a_lock_unlinked_between_open_and_fstat_reads_as_what_is_there_now(lockdir, monkeypatch):
    """Another helper moving a stale lock aside can unlink the inode we have
    just opened: that is the name being free, not a file with 0 links."""
    path = write_lock(lockdir, "LCK..ttyS1", b"%10d\n" % dead_pid())
    real_fstat, calls = os.fstat, []

    def fstat_after_a_racer_removed_it(fd):
        calls.append(fd)
        if len(calls) == 1:
            os.unlink(path)
        return real_fstat(fd)

    monkeypatch.setattr(os, "fstat", fstat_after_a_racer_removed_it)
    assert lockdir.inspect("LCK..ttyS1").state is LockState.ABSENT
    write_lock(lockdir, "LCK..ttyS1", b"%10d\n" % dead_pid())
    calls.clear()
    monkeypatch.setattr(os, "fstat", fstat_after_a_racer_removed_it)
    seen = lockdir.inspect("LCK..ttyS1")
    assert seen.state is LockState.ABSENT and len(calls) == 1
    write_lock(lockdir, "LCK..ttyS1", b"%10d\n" % dead_pid())
    seen = lockdir.inspect("LCK..ttyS1")
    assert seen.state is LockState.STALE and seen.nlink == 1


def test_putting_back_a_replaced_lock_never_shows_it_with_two_links(lockdir, sleeper, monkeypatch):
    """The put-back of rename-aside is a no-replace rename: a reader racing it
    sees the holder's file with one link, or no file, never a second link."""
    write_lock(lockdir, "LCK..ttyS1", b"%10d\n" % dead_pid())
    seen = lockdir.inspect("LCK..ttyS1")
    os.unlink(os.path.join(lockdir.path, "LCK..ttyS1"))
    live = sleeper()
    write_lock(lockdir, "LCK..ttyS1", b"%10d\n" % live.pid)
    links_seen = []
    real_link = os.link

    def watching_link(*args, **kwargs):
        links_seen.append(args)
        return real_link(*args, **kwargs)

    monkeypatch.setattr(os, "link", watching_link)
    assert lockdir.remove_stale(seen) is False
    assert links_seen == []
    now = lockdir.inspect("LCK..ttyS1")
    assert now.state is LockState.HELD and now.pid == live.pid and now.nlink == 1
    assert os.listdir(lockdir.path) == ["LCK..ttyS1"]


def test_oversized_file_is_refused_and_only_twelve_bytes_are_read(lockdir):
    path = write_lock(lockdir, "LCK..ttyS1", b"")
    with open(path, "wb") as f:
        f.truncate(1 << 30)     # 1 GiB sparse
    with pytest.raises(PppupError) as e:
        UucpLock.acquire(lockdir, "/dev/ttyS1", ("LCK..ttyS1",))
    assert "not a lock file" in str(e.value)
    assert os.path.getsize(path) == 1 << 30


def test_lock_directory_must_be_root_owned_and_sticky_if_world_writable(tmp_path):
    d = tmp_path / "bad"
    d.mkdir()
    os.chmod(d, 0o777)
    with pytest.raises(PppupError):
        LockDir(str(d))
    os.chmod(d, 0o1777)
    LockDir(str(d)).close()
    os.chown(d, 65534, 65534)
    with pytest.raises(PppupError):
        LockDir(str(d))


# ------------------------------------------------------------------- races
def test_partial_failure_rolls_back_every_name(lockdir):
    os.mkfifo(os.path.join(lockdir.path, "LK.000.188.000"))
    names = ("LCK..usb_ttyUSB0", "LCK..ttyUSB0", "LCK..usb:ttyUSB0", "LK.000.188.000")
    with pytest.raises(PppupError):
        UucpLock.acquire(lockdir, "/dev/usb/ttyUSB0", names)
    assert os.listdir(lockdir.path) == ["LK.000.188.000"]


def test_stale_removal_puts_back_a_lock_that_was_replaced_meanwhile(lockdir, sleeper):
    write_lock(lockdir, "LCK..ttyS1", b"%10d\n" % dead_pid())
    seen = lockdir.inspect("LCK..ttyS1")
    assert seen.state is LockState.STALE
    # another tool removes the stale lock and takes the line before we act
    os.unlink(os.path.join(lockdir.path, "LCK..ttyS1"))
    live = sleeper()
    write_lock(lockdir, "LCK..ttyS1", b"%10d\n" % live.pid)
    assert lockdir.remove_stale(seen) is False
    now = lockdir.inspect("LCK..ttyS1")
    assert now.state is LockState.HELD and now.pid == live.pid
    assert os.listdir(lockdir.path) == ["LCK..ttyS1"]


def test_stale_removal_rechecks_content_rewritten_in_place(lockdir, sleeper):
    path = write_lock(lockdir, "LCK..ttyS1", b"%10d\n" % dead_pid())
    seen = lockdir.inspect("LCK..ttyS1")
    live = sleeper()
    with open(path, "r+b") as f:           # pppd's relock() rewrites in place
        f.write(b"%10d\n" % live.pid)
    assert lockdir.remove_stale(seen) is False
    assert lockdir.inspect("LCK..ttyS1").pid == live.pid


RACER = textwrap.dedent("""
    import os, sys, time
    from pppup_helper.uucplock import LockDir, UucpLock
    from pppup_protocol.errors import PppupError
    d, serial, go = sys.argv[1], sys.argv[2], float(sys.argv[3])
    ld = LockDir(d, serial_path=serial)
    while time.time() < go:
        pass
    try:
        lock = UucpLock.acquire(ld, "/dev/ttyS1", ("LCK..ttyS1", "LK.000.004.065"))
        print("won", flush=True)
        time.sleep(1.0)
        lock.release()
    except PppupError as e:
        print("lost", e.code.name, flush=True)
""")


@pytest.mark.parametrize("serialised", [True, False])
def test_many_helpers_racing_on_one_stale_lock_exactly_one_wins(lockdir, tmp_path, serialised):
    """L5.  Unserialised too (each racer its own flock file): link() and the
    rename-aside recheck alone must still give one owner."""
    write_lock(lockdir, "LCK..ttyS1", b"%10d\n" % dead_pid())
    go = time.time() + 1.5
    racers = []
    for i in range(6):
        serial = str(tmp_path / ("lockdir.lock" if serialised else f"own{i}.lock"))
        racers.append(subprocess.Popen([sys.executable, "-c", RACER, lockdir.path, serial, str(go)],
                                       stdout=subprocess.PIPE, text=True))
    results = [r.communicate(timeout=60)[0].strip() for r in racers]
    assert sum(r == "won" for r in results) == 1, results
    assert all(r == "won" or r.startswith("lost BUSY") for r in results), results
    assert os.listdir(lockdir.path) == []


def test_remove_locks_of_a_recycled_pid_only_touches_that_pid(lockdir, sleeper):
    recycled = sleeper()          # alive, but proven not to be the owner any more
    other = sleeper()
    write_lock(lockdir, "LCK..ttyS1", b"%10d\n" % recycled.pid)
    write_lock(lockdir, "LK.000.004.065", b"%10d\n" % recycled.pid)
    write_lock(lockdir, "LCK..ttyS2", b"%10d\n" % other.pid)
    removed = uucplock.remove_locks_of(lockdir, ["LCK..ttyS1", "LK.000.004.065", "LCK..ttyS2"],
                                       recycled.pid)
    assert sorted(removed) == ["LCK..ttyS1", "LK.000.004.065"]
    assert os.listdir(lockdir.path) == ["LCK..ttyS2"]


# --------------------------------------------------------------- full fs (X2)
@pytest.fixture
def tiny_lockdir(tmp_path):
    d = tmp_path / "tiny"
    d.mkdir()
    rc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,nr_inodes=6,mode=1777", "tmpfs",
                         str(d)], capture_output=True, text=True)
    if rc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {rc.stderr.strip()}")
    ld = LockDir(str(d), serial_path=str(tmp_path / "lockdir.lock"))
    yield ld
    ld.close()
    subprocess.run(["umount", str(d)], check=True)


def test_full_lock_filesystem_refuses_cleanly_with_nothing_left(tiny_lockdir):
    i = 0
    while True:   # use up every inode
        try:
            open(os.path.join(tiny_lockdir.path, f"filler{i}"), "wb").close()
        except OSError:
            break
        i += 1
    names = ("LCK..ttyS1", "LK.000.004.065")
    with pytest.raises(PppupError) as e:
        UucpLock.acquire(tiny_lockdir, "/dev/ttyS1", names)
    assert e.value.code == Code.LINE and "full" in str(e.value)
    assert not any(n.startswith(("LCK", "LK", ".pppup")) for n in os.listdir(tiny_lockdir.path))
