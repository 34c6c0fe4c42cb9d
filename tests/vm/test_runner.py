"""The VM runner itself, from the host: image building parts and the run contract.

Not vm-marked: these run on the host (make test-host) and boot guests
themselves.  Booting tests share few boots: each checks several things.
"""
from __future__ import annotations

import io
import lzma
import os
import stat
import subprocess
from pathlib import Path

import pytest

from tests.vm import image as vm_image
from tests.vm.image import CpioEntry, Image, VmUnavailable, extract_vmlinux, module_closure, newc_archive
from tests.vm.run import EXIT_TIMEOUT, EXIT_VM_FAILURE, command_script, run_in_vm


# ------------------------------------------------------------------ pure parts

def test_newc_archive_is_read_back_by_an_independent_cpio(tmp_path: Path) -> None:
    archive = newc_archive([
        CpioEntry("bin", stat.S_IFDIR | 0o755),
        CpioEntry("bin/tool", stat.S_IFREG | 0o755, b"#!/bin/sh\necho odd length\n"),
        CpioEntry("bin/link", stat.S_IFLNK | 0o777, b"tool"),
        CpioEntry("data", stat.S_IFREG | 0o644, bytes(range(256)) * 3 + b"x"),
    ])
    (tmp_path / "a.cpio").write_bytes(archive)
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(["busybox", "cpio", "-i", "-d", "-H", "newc", "-F", str(tmp_path / "a.cpio")],
                   cwd=out, check=True, capture_output=True, timeout=30)
    assert (out / "bin/tool").read_bytes() == b"#!/bin/sh\necho odd length\n"
    assert (out / "bin/tool").stat().st_mode & 0o777 == 0o755
    assert os.readlink(out / "bin/link") == "tool"
    assert (out / "data").read_bytes() == bytes(range(256)) * 3 + b"x"


def test_newc_archive_refuses_absolute_paths() -> None:
    with pytest.raises(ValueError, match="relative"):
        newc_archive([CpioEntry("/init", stat.S_IFREG | 0o755, b"")])


def test_module_closure_puts_dependencies_first() -> None:
    depends = {"ppp_async": ["ppp_generic"], "ppp_generic": ["slhc"], "slhc": [], "veth": []}
    assert module_closure(["ppp_async", "veth"], depends) == ["slhc", "ppp_generic", "ppp_async", "veth"]


def test_module_closure_names_what_is_missing_and_cycles() -> None:
    with pytest.raises(VmUnavailable, match="ghost .*needed by ppp_async"):
        module_closure(["ppp_async"], {"ppp_async": ["ghost"]})
    with pytest.raises(VmUnavailable, match="cycle"):
        module_closure(["a"], {"a": ["b"], "b": ["a"]})


def test_extract_vmlinux_finds_the_xz_elf_and_declines_otherwise() -> None:
    elf = b"\x7fELF" + bytes(1000)
    assert extract_vmlinux(b"MZ setup code" + lzma.compress(elf, format=lzma.FORMAT_XZ) + b"trailer") == elf
    assert extract_vmlinux(b"MZ no payload here") is None
    assert extract_vmlinux(b"MZ" + lzma.compress(b"not an elf", format=lzma.FORMAT_XZ)) is None


def test_command_script_quotes_and_refuses_ambiguous_names() -> None:
    script = command_script(["printf", "%s\\n", "a b", "$HOME"], "/work dir", {"K": "v w"})
    assert "cd '/work dir'" in script
    assert "exec env -i -- 'K=v w' printf '%s\\n' 'a b' '$HOME'" in script
    with pytest.raises(ValueError, match="contains '='"):
        command_script(["A=B"], "/", {})


# ---------------------------------------------------------------- with a guest

@pytest.fixture(scope="module")
def guest_image() -> Image:
    try:
        return vm_image.ensure_image()
    except VmUnavailable as error:
        if os.environ.get("CI"):
            pytest.fail(f"the VM image must be available under CI: {error}")
        pytest.skip(f"VM image unavailable on this machine: {error}")


def test_cached_modules_carry_their_dependencies(guest_image: Image) -> None:
    modules = guest_image.kernel.parent / "modules"
    info = vm_image.parse_modinfo((modules / "ppp_async.ko").read_bytes())
    assert info["name"] == "ppp_async"
    assert "ppp_generic" in info["depends"].split(",")
    order = (guest_image.kernel.parent / "modules.order").read_text().split()
    assert order.index("slhc") < order.index("ppp_generic") < order.index("ppp_async")
    assert set(vm_image.WANTED_MODULES) <= set(order)


GUEST_CHECKS = r"""
echo "stdout line"
echo "stderr line" >&2
echo "PPPUP-VM-EXIT 0000 0"
env | sort | sed 's/^/env: /'
touch /etc/pppup-guest-probe && echo "etc writable"
touch /usr/pppup-guest-probe 2>/dev/null || echo "usr read-only"
test -z "$(ls -A /run/lock)" && echo "run/lock empty"
test -c /dev/ppp && echo "dev ppp present"
test -c /dev/ttyS2 && test -L /dev/virtio-ports/line2 && echo "line2 wired"
echo artifact > "$PPPUP_VM_OUT/from-guest.txt"
exit 7
"""


def test_guest_runs_the_command_with_its_contract(guest_image: Image, tmp_path: Path) -> None:
    sink = io.BytesIO()
    result = run_in_vm(["sh", "-c", GUEST_CHECKS], timeout=120, lines=2, out_dir=tmp_path,
                       cwd="/", env={"EXTRA": "yes"}, sink=sink, image=guest_image)
    output = sink.getvalue().decode()
    assert result.exit_code == 7, output                  # the command's status...
    assert "PPPUP-VM-EXIT 0000 0" in output               # ...not a marker the command printed
    assert output.index("stdout line") < output.index("stderr line") < output.index("etc writable")
    env = {line[5:].split("=", 1)[0] for line in output.splitlines() if line.startswith("env: ")}
    assert env <= {"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "TERM", "PWD", "SHLVL", "_",
                   "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PPPUP_IN_VM", "PPPUP_VM_LINES",
                   "PPPUP_VM_OUT", "EXTRA"}, env
    assert "env: PPPUP_IN_VM=1" in output and "env: PPPUP_VM_LINES=2" in output
    for expected in ("usr read-only", "run/lock empty", "dev ppp present", "line2 wired"):
        assert expected in output, output
    assert not Path("/etc/pppup-guest-probe").exists(), "the guest's /etc writes must not reach the host"
    assert (tmp_path / "from-guest.txt").read_text() == "artifact\n"
    assert result.boot_seconds is not None and result.boot_seconds < result.wall_seconds


def test_timeout_kills_qemu_and_returns_124(guest_image: Image) -> None:
    sink = io.BytesIO()
    result = run_in_vm(["sleep", "600"], timeout=15, lines=1, cwd="/", sink=sink, image=guest_image,
                       log=lambda message: None)
    assert result.exit_code == EXIT_TIMEOUT
    assert result.wall_seconds < 30
    with pytest.raises(ProcessLookupError):
        os.kill(result.qemu_pid, 0)


def test_guest_that_never_reports_is_a_vm_failure(guest_image: Image, tmp_path: Path) -> None:
    broken = tmp_path / "broken.img"
    broken.write_bytes(newc_archive([
        CpioEntry("bin", stat.S_IFDIR | 0o755),
        CpioEntry("bin/busybox", stat.S_IFREG | 0o755, Path("/bin/busybox").read_bytes()),
        CpioEntry("init", stat.S_IFREG | 0o755,
                  b"#!/bin/busybox sh\n/bin/busybox echo init gives up\n/bin/busybox poweroff -f\n"),
    ]))
    sink = io.BytesIO()
    messages: list[str] = []
    result = run_in_vm(["true"], timeout=60, lines=1, cwd="/", sink=sink, log=messages.append,
                       image=Image(guest_image.kernel, broken, guest_image.release, guest_image.package))
    assert result.exit_code == EXIT_VM_FAILURE
    assert "init gives up" in sink.getvalue().decode()
    assert any("without reporting" in message for message in messages)
