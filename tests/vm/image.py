"""Build (once) what the guest boots: Debian's kernel and a busybox initramfs.

The kernel is the one Debian users run: the concrete package behind the
`linux-image-amd64` meta package, fetched with `apt-get download` (installing
it would pull udev and write a large initrd).  From it we keep:
  - the uncompressed ELF `vmlinux`: it has a PVH entry note, so QEMU boots it
    directly, about twice as fast as the bzImage;
  - the few modules the guest needs, with their dependency closure.  There is
    no depmod/modprobe on the host, so dependencies are read from each
    module's own `.modinfo` section and the modules are loaded in topological
    order by `init.sh`.
The initramfs is a newc cpio written here: static busybox, those modules, the
init script.  Everything lives under `.cache/vm/` keyed by the kernel
package's name and version and by a hash of what goes into the initramfs, so a
second run reuses it and any change rebuilds only what it affects.

`python -m tests.vm.image` (make vm-image) builds or checks the cache.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import lzma
import os
import re
import shutil
import stat
import struct
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from pppup_protocol.errors import Code, PppupError

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache" / "vm"
INIT_SCRIPT = Path(__file__).with_name("init.sh")
BUSYBOX = Path("/bin/busybox")
META_PACKAGE = "linux-image-amd64"

# What the guest needs as modules (everything else it uses is built in, e.g.
# the 8250 UARTs, devtmpfs, tmpfs, crc-ccitt): the virtio PCI transport, the
# virtio console (the simulator's side of each line), the 9p root and the
# overlays on it, PPP on async ttys, and veth for tests that join namespaces.
WANTED_MODULES = (
    "virtio_pci", "virtio_console", "9pnet_virtio", "9p", "overlay",
    "ppp_generic", "ppp_async", "veth",
)

Log = Callable[[str], None]


class VmUnavailable(PppupError):
    """The guest cannot be prepared on this machine (QEMU, busybox or the kernel)."""

    code = Code.FAILURE


@dataclass(frozen=True)
class Image:
    kernel: Path          # vmlinux (PVH ELF) or, if the kernel has no xz payload, vmlinuz
    initrd: Path
    release: str          # e.g. 6.1.0-56-amd64
    package: str          # e.g. linux-image-6.1.0-56-amd64_6.1.192-2


def _stderr(message: str) -> None:
    print(f"vm-image: {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ pure parts

def parse_modinfo(elf: bytes) -> dict[str, str]:
    """The key=value strings of a kernel module's .modinfo section.

    Reads the ELF64 section table rather than searching the whole file, so a
    string such as "depends=" elsewhere in the module cannot be mistaken for it.
    Repeated keys (alias=, parm=) keep their last value; we only need
    `name` and `depends`, which occur once.
    """
    if elf[:4] != b"\x7fELF" or elf[4] != 2 or elf[5] != 1:
        raise ValueError("not a little-endian ELF64 kernel module")
    shoff, = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3A)

    def section(index: int) -> tuple[int, int, int]:
        base = shoff + index * shentsize
        name, = struct.unpack_from("<I", elf, base)
        offset, size = struct.unpack_from("<QQ", elf, base + 0x18)
        return name, offset, size

    _, strtab_offset, strtab_size = section(shstrndx)
    strtab = elf[strtab_offset:strtab_offset + strtab_size]
    for index in range(shnum):
        name_at, offset, size = section(index)
        if strtab[name_at:strtab.index(b"\0", name_at)] == b".modinfo":
            fields: dict[str, str] = {}
            for entry in elf[offset:offset + size].split(b"\0"):
                key, sep, value = entry.partition(b"=")
                if sep:
                    fields[key.decode()] = value.decode(errors="replace")
            return fields
    raise ValueError("kernel module has no .modinfo section")


def module_closure(wanted: Iterable[str], depends: dict[str, list[str]]) -> list[str]:
    """`wanted` plus everything they depend on, each after its dependencies."""
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str, needed_by: str | None) -> None:
        if name in order:
            return
        if name not in depends:
            via = f" (needed by {needed_by})" if needed_by else ""
            raise VmUnavailable(f"kernel module {name}{via} is not in the kernel package; "
                                "the guest cannot boot without it: check WANTED_MODULES in tests/vm/image.py")
        if name in visiting:
            raise VmUnavailable(f"kernel modules depend on each other in a cycle through {name}")
        visiting.add(name)
        for dependency in depends[name]:
            visit(dependency, name)
        visiting.discard(name)
        order.append(name)

    for name in wanted:
        visit(name, None)
    return order


def extract_vmlinux(bzimage: bytes) -> bytes | None:
    """The ELF kernel inside an xz-compressed bzImage, or None if there is none."""
    start = bzimage.find(b"\xfd7zXZ\x00")
    if start < 0:
        return None
    decompressor = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
    try:
        elf = decompressor.decompress(bzimage[start:])
    except lzma.LZMAError:
        return None
    return elf if elf[:4] == b"\x7fELF" else None


@dataclass(frozen=True)
class CpioEntry:
    path: str             # relative, no leading slash
    mode: int             # including the file type bits
    data: bytes = b""     # file content, or the target of a symlink
    rdev: tuple[int, int] = (0, 0)


def newc_archive(entries: Iterable[CpioEntry]) -> bytes:
    """A cpio archive in the kernel's initramfs format ("newc", no checksums)."""
    out = bytearray()

    def pad() -> None:
        out.extend(b"\0" * (-len(out) % 4))

    def header(inode: int, entry: CpioEntry, name: bytes) -> None:
        fields = (inode, entry.mode, 0, 0, 1, 0, len(entry.data), 0, 0,
                  entry.rdev[0], entry.rdev[1], len(name), 0)
        out.extend(b"070701" + b"".join(b"%08X" % value for value in fields))
        out.extend(name)
        pad()

    inode = 0
    for inode, entry in enumerate(entries, start=1):
        if entry.path.startswith("/") or not entry.path:
            raise ValueError(f"cpio path must be relative: {entry.path!r}")
        header(inode, entry, entry.path.encode() + b"\0")
        out.extend(entry.data)
        pad()
    header(inode + 1, CpioEntry("TRAILER!!!", 0), b"TRAILER!!!\0")
    return bytes(out)


# ------------------------------------------------------------ the kernel package

def _apt(args: list[str], timeout: float, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"})


def _candidate_kernel() -> tuple[str, str] | None:
    """(package, version) that `linux-image-amd64` currently points at, or None."""
    show = _apt(["apt-cache", "show", "--no-all-versions", META_PACKAGE], timeout=60)
    # Debian's meta package pins the exact version: "Depends: linux-image-6.1.0-56-amd64 (= 6.1.192-2)"
    match = re.search(r"^Depends:.*?\b(linux-image-[0-9]\S*) \(= (\S+)\)", show.stdout, re.MULTILINE)
    return (match.group(1), match.group(2)) if match else None


def find_kernel_package(log: Log) -> tuple[str, str]:
    found = _candidate_kernel()
    if found is None:
        log("apt lists do not know linux-image-amd64 yet: running apt-get update")
        _apt(["apt-get", "update", "-qq"], timeout=600)
        found = _candidate_kernel()
    if found is None:
        raise VmUnavailable(f"apt cannot resolve {META_PACKAGE} to a kernel package; "
                            "check the apt sources (`apt-cache show linux-image-amd64`)")
    return found


def download_kernel(package: str, version: str, into: Path, log: Log) -> Path:
    log(f"downloading {package} {version} with apt-get download")
    result = _apt(["apt-get", "download", f"{package}={version}"], timeout=900, cwd=into)
    debs = sorted(into.glob(f"{package}_*.deb"))
    if result.returncode != 0 or not debs:
        raise VmUnavailable(f"apt-get download {package}={version} failed: "
                            f"{(result.stderr or result.stdout).strip()[-400:]}")
    return debs[0]


def _deb_members(deb: Path) -> Iterator[tuple[tarfile.TarInfo, tarfile.TarFile]]:
    """Stream the data members of a .deb (one pass; dpkg-deb decompresses)."""
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    stream = proc.stdout
    if stream is None:
        raise VmUnavailable("dpkg-deb gave no output pipe")
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                yield member, tar
    finally:
        stream.close()
        if proc.wait(timeout=120) != 0:
            raise VmUnavailable(f"dpkg-deb could not read {deb} (exit {proc.returncode})")


_MODULE_PATH = re.compile(r"^\./lib/modules/([^/]+)/kernel/.*\.ko$")


def unpack_kernel(deb: Path, dest: Path, log: Log) -> str:
    """Write vmlinux (or vmlinuz), the module closure and modules.order into dest.

    Two streaming passes over the package: the first reads every module's
    dependencies, the second writes only the modules in the closure.
    """
    depends: dict[str, list[str]] = {}
    member_of: dict[str, str] = {}
    bzimage = b""
    release = ""
    for member, tar in _deb_members(deb):
        if not member.isfile():
            continue
        if member.name.startswith("./boot/vmlinuz-"):
            bzimage = tar.extractfile(member).read()  # type: ignore[union-attr]
            release = member.name.removeprefix("./boot/vmlinuz-")
        elif match := _MODULE_PATH.match(member.name):
            info = parse_modinfo(tar.extractfile(member).read())  # type: ignore[union-attr]
            name = info.get("name") or Path(member.name).stem.replace("-", "_")
            depends[name] = [d for d in info.get("depends", "").split(",") if d]
            member_of[name] = member.name
    if not bzimage:
        raise VmUnavailable(f"{deb.name} contains no /boot/vmlinuz-*: not a kernel image package")
    order = module_closure(WANTED_MODULES, depends)
    log(f"modules ({len(order)}): {' '.join(order)}")

    (dest / "modules").mkdir(parents=True)
    wanted_members = {member_of[name]: name for name in order}
    for member, tar in _deb_members(deb):
        if member.name in wanted_members:
            data = tar.extractfile(member).read()  # type: ignore[union-attr]
            (dest / "modules" / f"{wanted_members[member.name]}.ko").write_bytes(data)
    (dest / "modules.order").write_text("\n".join(order) + "\n")

    vmlinux = extract_vmlinux(bzimage)
    if vmlinux is not None:
        (dest / "vmlinux").write_bytes(vmlinux)
    else:
        log("no xz-compressed ELF inside vmlinuz: booting the bzImage (slower)")
        (dest / "vmlinuz").write_bytes(bzimage)
    return release


# --------------------------------------------------------------- the initramfs

def initrd_key(kernel_dir: Path) -> str:
    """Hash of everything that goes into the initramfs (and of this builder)."""
    digest = hashlib.sha256()
    for part in (Path(__file__), INIT_SCRIPT, BUSYBOX, kernel_dir / "modules.order"):
        digest.update(part.read_bytes())
    return digest.hexdigest()[:16]


def build_initrd(kernel_dir: Path, target: Path) -> None:
    order = (kernel_dir / "modules.order").read_text().split()
    directory = stat.S_IFDIR | 0o755
    entries = [CpioEntry(d, directory) for d in ("bin", "dev", "proc", "sys", "mods", "newroot", "job", "ov")]
    entries.append(CpioEntry("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1)))
    entries.append(CpioEntry("bin/busybox", stat.S_IFREG | 0o755, BUSYBOX.read_bytes()))
    entries.append(CpioEntry("bin/sh", stat.S_IFLNK | 0o777, b"busybox"))
    for name in order:
        entries.append(CpioEntry(f"mods/{name}.ko", stat.S_IFREG | 0o644,
                                 (kernel_dir / "modules" / f"{name}.ko").read_bytes()))
    entries.append(CpioEntry("mods/order", stat.S_IFREG | 0o644, ("\n".join(order) + "\n").encode()))
    entries.append(CpioEntry("init", stat.S_IFREG | 0o755, INIT_SCRIPT.read_bytes()))
    partial = target.with_suffix(".partial")
    partial.write_bytes(newc_archive(entries))
    partial.rename(target)


# ---------------------------------------------------------------------- cache

def _cached_kernels() -> list[Path]:
    done = [p.parent for p in CACHE.glob("linux-image-*/kernel.json")]
    return sorted(done, key=lambda p: (p / "kernel.json").stat().st_mtime, reverse=True)


def _build_kernel_dir(package: str, version: str, log: Log) -> Path:
    kernel_dir = CACHE / f"{package}_{version}"
    if (kernel_dir / "kernel.json").exists():
        return kernel_dir
    work = Path(tempfile.mkdtemp(prefix="build-", dir=CACHE))
    try:
        deb = download_kernel(package, version, work, log)
        unpacked = work / "unpacked"
        unpacked.mkdir()
        release = unpack_kernel(deb, unpacked, log)
        (unpacked / "kernel.json").write_text(json.dumps(
            {"package": package, "version": version, "release": release}) + "\n")
        if kernel_dir.exists():
            shutil.rmtree(kernel_dir)  # an incomplete earlier attempt (no kernel.json)
        unpacked.rename(kernel_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    # Older kernels (~70 MB each) were only kept as a fallback for this build.
    for older in _cached_kernels():
        if older != kernel_dir:
            log(f"removing the superseded {older.name}")
            shutil.rmtree(older, ignore_errors=True)
    return kernel_dir


def _kernel_dir(log: Log) -> Path:
    """The cached kernel of the current package; an older cached one if apt fails."""
    try:
        package, version = find_kernel_package(log)
        return _build_kernel_dir(package, version, log)
    except (VmUnavailable, OSError, subprocess.TimeoutExpired) as error:
        cached = _cached_kernels()
        if not cached:
            raise VmUnavailable(f"no kernel image is cached and apt cannot provide one: {error}") from error
        log(f"{error}; using the cached {cached[0].name}")
        return cached[0]


def ensure_image(log: Log = _stderr) -> Image:
    """Return the cached image, building whatever is missing or out of date."""
    if not BUSYBOX.exists():
        raise VmUnavailable(f"{BUSYBOX} is missing: install busybox-static (make bootstrap)")
    CACHE.mkdir(parents=True, exist_ok=True)
    # Two builds at once (two shells, two teammates) would race on the renames.
    with open(CACHE / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        kernel_dir = _kernel_dir(log)
        meta = json.loads((kernel_dir / "kernel.json").read_text())
        initrd = kernel_dir / f"initrd-{initrd_key(kernel_dir)}.img"
        if not initrd.exists():
            log(f"building {initrd}")
            for stale in kernel_dir.glob("initrd-*.img"):
                stale.unlink()
            build_initrd(kernel_dir, initrd)
    kernel = kernel_dir / "vmlinux"
    if not kernel.exists():
        kernel = kernel_dir / "vmlinuz"
    return Image(kernel=kernel, initrd=initrd, release=meta["release"],
                 package=f"{meta['package']}_{meta['version']}")


def main() -> int:
    try:
        image = ensure_image()
    except VmUnavailable as error:
        _stderr(f"cannot prepare the VM image: {error}")
        return 1
    print(f"vm-image: {image.package} ({image.release})\n  kernel {image.kernel}\n  initrd {image.initrd}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
