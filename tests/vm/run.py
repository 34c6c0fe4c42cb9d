"""Boot the test guest, run one command in it, exit with the command's status.

    .venv/bin/python -m tests.vm.run [--timeout S] [--lines N] [--out DIR] [--env K=V] -- CMD ARGS...

The command runs as root in the guest, in the host's current directory (the
guest sees the host's root read-only), with a clean environment plus
PPPUP_IN_VM=1, PPPUP_VM_LINES=N and PPPUP_VM_OUT=DIR.  Its stdout and stderr
arrive merged on this process's stdout as it runs (one serial console).

Exit status: the command's; 124 if the timeout ran out (QEMU's process group
is killed); 125 if the VM failed (could not be built, did not boot, or
stopped without reporting the command's status).

Lines: guest /dev/ttyS1..ttySN are real 16550A UARTs; each is looped through
a QEMU socket chardev to the virtio-serial port named lineN
(/dev/virtio-ports/lineN in the guest), which the simulator drives.  ttyS1-3
are ISA UARTs, ttyS4 and up PCI UARTs; ttyS0 is the console.

OUT_DIR is a host directory shared read-write into the guest at the same
path, for artifacts (junit XML, logs).  Without --out, a temporary one is
used and removed.  Only one VM runs at a time on this machine (a lock in
/run/lock): the host has few cores and TCG needs them.
"""
from __future__ import annotations

import argparse
import ctypes
import fcntl
import os
import secrets
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Sequence

from tests.vm.image import Image, VmUnavailable, ensure_image

EXIT_TIMEOUT = 124
EXIT_VM_FAILURE = 125
DEFAULT_LINES = 6
MAX_LINES = 16               # 8250.nr_uarts must cover ttyS0..ttySN (the kernel allows 32)
RUN_LOCK = Path("/run/lock/pppup-vm.lock")
LOCK_WAIT_SECONDS = 1800.0
GUEST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class VmResult:
    exit_code: int
    boot_seconds: float | None   # host wall time from QEMU start to the command starting
    wall_seconds: float
    qemu_pid: int                # already reaped when the result is returned


def use_kvm() -> bool:
    # /dev/kvm alone proves nothing: here it is PVM, which cannot run a stock
    # kernel (QEMU aborts or hangs).  Only a loaded VMX/SVM module means KVM works.
    return (Path("/sys/module/kvm_intel").exists() or Path("/sys/module/kvm_amd").exists()) \
        and os.access("/dev/kvm", os.R_OK | os.W_OK)


def qemu_argv(image: Image, rundir: Path, jobdir: Path, out_dir: Path | None,
              lines: int, memory: str) -> list[str]:
    accel = ["-accel", "kvm", "-cpu", "host"] if use_kvm() else \
        ["-accel", "tcg,tb-size=512", "-cpu", "max"]
    argv = [
        "qemu-system-x86_64", "-M", "q35", *accel, "-m", memory, "-smp", "2",
        "-nodefaults", "-no-user-config", "-display", "none", "-monitor", "none",
        "-serial", "stdio", "-no-reboot",
        "-kernel", str(image.kernel), "-initrd", str(image.initrd),
        "-append", f"console=ttyS0 quiet loglevel=1 panic=-1 rdinit=/init 8250.nr_uarts={max(4, lines + 1)}",
        "-fsdev", "local,id=hostroot,path=/,security_model=passthrough,readonly=on,multidevs=remap",
        "-device", "virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot",
        "-fsdev", f"local,id=job,path={jobdir},security_model=passthrough,readonly=on",
        "-device", "virtio-9p-pci,fsdev=job,mount_tag=pppup-job",
    ]
    if out_dir is not None:
        argv += ["-fsdev", f"local,id=out,path={out_dir},security_model=passthrough,multidevs=remap",
                 "-device", "virtio-9p-pci,fsdev=out,mount_tag=pppup-out"]
    # Each line: the UART's chardev listens on a socket, the virtio port's
    # chardev connects to it (created after it, so the listener exists).
    for n in range(1, lines + 1):
        uart = f"isa-serial,chardev=uart{n},index={n}" if n <= 3 else f"pci-serial,chardev=uart{n}"
        argv += ["-chardev", f"socket,id=uart{n},path={rundir}/line{n}.sock,server=on,wait=off",
                 "-device", uart]
    argv += ["-device", "virtio-serial-pci"]
    for n in range(1, lines + 1):
        argv += ["-chardev", f"socket,id=port{n},path={rundir}/line{n}.sock",
                 "-device", f"virtserialport,chardev=port{n},name=line{n}"]
    return argv


def _die_with_parent() -> None:
    """In QEMU's child before exec: SIGKILL it if we die (SIGTERM, crash), so no guest outlives us."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def command_script(argv: Sequence[str], cwd: str, env: dict[str, str]) -> str:
    """The shell script the guest's init runs in the chroot."""
    if not argv:
        raise ValueError("no command given")
    if "=" in argv[0]:
        raise ValueError(f"command name {argv[0]!r} contains '=': env(1) would take it for a variable")
    assignments = " ".join(shlex.quote(f"{k}={v}") for k, v in sorted(env.items()))
    return (f"cd {shlex.quote(cwd)} || {{ echo 'pppup-vm: cannot cd to {shlex.quote(cwd)} in the guest' >&2; exit 125; }}\n"
            f"exec env -i -- {assignments} {shlex.join(argv)}\n")


def guest_env(lines: int, out_dir: Path | None, extra: dict[str, str]) -> dict[str, str]:
    env = {
        "PATH": GUEST_PATH, "HOME": "/root", "USER": "root", "LOGNAME": "root",
        "SHELL": "/bin/sh", "LANG": "C.UTF-8", "TERM": "dumb",
        # The repository is read-only in the guest: do not even try to write bytecode.
        "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1",
        "PPPUP_IN_VM": "1", "PPPUP_VM_LINES": str(lines),
    }
    if out_dir is not None:
        env["PPPUP_VM_OUT"] = str(out_dir)
    env.update(extra)
    return env


class _RunLock:
    """One VM at a time on this machine; waits (and says so) for another run."""

    def __enter__(self) -> "_RunLock":
        RUN_LOCK.parent.mkdir(parents=True, exist_ok=True)
        self.file = open(RUN_LOCK, "a+")
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        announced = False
        while True:
            try:
                fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    self.file.close()
                    raise VmUnavailable(f"another VM run kept {RUN_LOCK} for {LOCK_WAIT_SECONDS:.0f} s; "
                                        f"find it with `fuser {RUN_LOCK}`")
                if not announced:
                    print(f"vm: waiting for another VM run to finish (lock {RUN_LOCK})", file=sys.stderr, flush=True)
                    announced = True
                time.sleep(0.5)
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()


def _stream(proc: subprocess.Popen[bytes], token: str, deadline: float,
            sink: BinaryIO, started: float) -> tuple[int | None, float | None, bool]:
    """Forward the console to sink until the exit marker, QEMU's exit or the deadline.

    Returns (status from the marker or None, boot seconds or None, timed out).
    """
    booted_marker = f"PPPUP-VM-BOOTED {token} ".encode()
    exit_marker = f"PPPUP-VM-EXIT {token} ".encode()
    stdout = proc.stdout
    if stdout is None:
        raise VmUnavailable("QEMU was started without an output pipe")
    fd = stdout.fileno()
    pending = b""
    boot_seconds: float | None = None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None, boot_seconds, True
        ready, _, _ = select.select([fd], [], [], min(remaining, 1.0))
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            if pending:
                sink.write(pending)
                sink.flush()
            return None, boot_seconds, False
        pending += chunk.replace(b"\r\n", b"\n")
        # Forward whole lines (markers are whole lines); hold back a partial
        # line only while it could still become a marker.
        lines = pending.split(b"\n")
        pending = lines.pop()
        for line in lines:
            if line.startswith(booted_marker):
                boot_seconds = time.monotonic() - started
            elif line.startswith(exit_marker):
                status = line[len(exit_marker):].strip()
                return (int(status) if status.isdigit() else EXIT_VM_FAILURE), boot_seconds, False
            else:
                sink.write(line + b"\n")
        if pending and not (booted_marker.startswith(pending[:len(booted_marker)])
                            or exit_marker.startswith(pending[:len(exit_marker)])):
            sink.write(pending)
            pending = b""
        sink.flush()


def _stop(proc: subprocess.Popen[bytes], grace: float) -> None:
    """Wait a little for QEMU to power off by itself, then kill its process group."""
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def run_in_vm(argv: Sequence[str], *, timeout: float = 300.0, lines: int = DEFAULT_LINES,
              out_dir: Path | None = None, cwd: str | None = None, env: dict[str, str] | None = None,
              memory: str = "512M", sink: BinaryIO | None = None, log: Callable[[str], None] | None = None,
              image: Image | None = None) -> VmResult:
    """Run argv in a fresh guest; see the module docstring for the contract."""
    sink = sink if sink is not None else sys.stdout.buffer
    log = log if log is not None else (lambda message: print(f"vm: {message}", file=sys.stderr, flush=True))
    if not 1 <= lines <= MAX_LINES:
        raise ValueError(f"--lines must be between 1 and {MAX_LINES}, not {lines}")
    if shutil.which("qemu-system-x86_64") is None:
        raise VmUnavailable("qemu-system-x86_64 is not installed: install qemu-system-x86 (make bootstrap)")
    image = image if image is not None else ensure_image()
    cwd = cwd if cwd is not None else os.getcwd()
    temporary_out = out_dir is None
    rundir = Path(tempfile.mkdtemp(prefix="pppup-vm-"))
    try:
        if temporary_out:
            out_dir = rundir / "out"
        out_dir = Path(out_dir).resolve()
        out_dir.mkdir(parents=True, exist_ok=True)
        jobdir = rundir / "job"
        jobdir.mkdir()
        token = secrets.token_hex(16)
        (jobdir / "job.env").write_text(f"TOKEN={token}\nLINES={lines}\nOUT_DIR={shlex.quote(str(out_dir))}\n")
        (jobdir / "cmd.sh").write_text(command_script(argv, cwd, guest_env(lines, out_dir, env or {})))
        with _RunLock():
            started = time.monotonic()
            deadline = started + timeout
            proc = subprocess.Popen(qemu_argv(image, rundir, jobdir, out_dir, lines, memory),
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    start_new_session=True, preexec_fn=_die_with_parent)
            try:
                status, boot_seconds, timed_out = _stream(proc, token, deadline, sink, started)
            except BaseException:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
                raise
            if timed_out:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
                log(f"timed out after {timeout:.0f} s: killed QEMU (exit {EXIT_TIMEOUT})")
                return VmResult(EXIT_TIMEOUT, boot_seconds, time.monotonic() - started, proc.pid)
            _stop(proc, grace=10.0)
            if status is None:
                log(f"the VM stopped (QEMU exit {proc.returncode}) without reporting the command's status; "
                    f"see the console output above (exit {EXIT_VM_FAILURE})")
                status = EXIT_VM_FAILURE
            return VmResult(status, boot_seconds, time.monotonic() - started, proc.pid)
    finally:
        shutil.rmtree(rundir, ignore_errors=True)


def main(args: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.vm.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds for boot + command (default 300)")
    parser.add_argument("--lines", type=int, default=DEFAULT_LINES, help=f"UART lines ttyS1..N (default {DEFAULT_LINES})")
    parser.add_argument("--out", type=Path, help="host directory shared read-write at the same path in the guest")
    parser.add_argument("--env", action="append", default=[], metavar="K=V", help="extra guest environment")
    parser.add_argument("--memory", default="512M")
    parser.add_argument("--verbose", "-v", action="store_true", help="report boot and wall time on stderr")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    options = parser.parse_args(args)
    command = options.command[1:] if options.command[:1] == ["--"] else options.command
    if not command:
        parser.error("give the command to run after --")
    malformed = [item for item in options.env if "=" not in item[1:]]
    if malformed:
        parser.error(f"--env takes NAME=VALUE, not {malformed[0]!r}")
    extra = dict(item.split("=", 1) for item in options.env)
    try:
        result = run_in_vm(command, timeout=options.timeout, lines=options.lines, out_dir=options.out,
                           env=extra, memory=options.memory)
    except VmUnavailable as error:
        print(f"vm: cannot run the VM: {error}", file=sys.stderr)
        return EXIT_VM_FAILURE
    except ValueError as error:
        parser.error(str(error))
    if options.verbose:
        boot = f"{result.boot_seconds:.2f} s" if result.boot_seconds is not None else "never"
        print(f"vm: command started {boot} after QEMU; wall {result.wall_seconds:.2f} s; exit {result.exit_code}",
              file=sys.stderr)
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
