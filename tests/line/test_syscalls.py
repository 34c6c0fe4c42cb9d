"""The cffi syscalls module: real system calls on the host kernel."""
import errno
import os
import subprocess
import sys

import pytest

from pppup_helper import _syscalls, syscalls


def test_module_is_prebuilt_extension_not_compiled_at_import():
    # Y7: the helper imports a compiled module; nothing builds C at run time.
    assert _syscalls.__file__.endswith(".so")
    source = open(syscalls.__file__).read()
    assert "ffi.verify" not in source and "compile(" not in source


def test_openat2_refuses_symlink_anywhere_in_the_path(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "f").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    fd = syscalls.openat2(str(tmp_path / "real" / "f"), os.O_RDONLY | os.O_CLOEXEC,
                          resolve=syscalls.RESOLVE_NO_SYMLINKS)
    try:
        assert os.read(fd, 10) == b"x"
    finally:
        os.close(fd)
    with pytest.raises(OSError) as exc:
        syscalls.openat2(str(tmp_path / "link" / "f"), os.O_RDONLY,
                         resolve=syscalls.RESOLVE_NO_SYMLINKS)
    assert exc.value.errno == errno.ELOOP
    assert exc.value.filename == str(tmp_path / "link" / "f")


def test_openat2_refuses_proc_magic_links():
    fd = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
    try:
        with pytest.raises(OSError) as exc:
            syscalls.openat2(f"/proc/self/fd/{fd}", os.O_RDONLY,
                             resolve=syscalls.RESOLVE_NO_MAGICLINKS)
        assert exc.value.errno == errno.ELOOP
    finally:
        os.close(fd)


def test_rename_noreplace_never_replaces(tmp_path):
    d = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        (tmp_path / "a").write_text("a")
        (tmp_path / "b").write_text("b")
        with pytest.raises(FileExistsError):
            syscalls.rename_noreplace("a", "b", src_dir_fd=d, dst_dir_fd=d)
        assert (tmp_path / "b").read_text() == "b"
        syscalls.rename_noreplace("a", "c", src_dir_fd=d, dst_dir_fd=d)
        assert (tmp_path / "c").read_text() == "a" and not (tmp_path / "a").exists()
    finally:
        os.close(d)


def test_pid_exists_for_live_and_reaped_processes():
    assert syscalls.pid_exists(os.getpid())
    child = subprocess.Popen(["/bin/true"])
    child.wait()
    # The pid was reaped just now; the kernel recycles pids only after wrapping.
    assert not syscalls.pid_exists(child.pid)


def test_pid_exists_reports_foreign_processes_alive_as_unprivileged_user(line_user):
    # EPERM counts as alive: run the probe as an unprivileged user against our (root) pid.
    code = ("import os,sys; from pppup_helper import syscalls; "
            "print(syscalls.pid_exists(int(sys.argv[1])))")
    out = subprocess.run(line_user.setpriv() + [sys.executable, "-c", code, str(os.getpid())],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"


@pytest.mark.parametrize("pid", [0, 1, -1, -5, syscalls.PID_MAX_LIMIT + 1, 2**32, True, "12", 12.0])
def test_pid_exists_refuses_special_and_garbage_pids(pid):
    with pytest.raises(ValueError):
        syscalls.pid_exists(pid)


def test_tiocvhangup_constant_matches_the_kernel_abi():
    assert syscalls.TIOCVHANGUP == 0x5437
