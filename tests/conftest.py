"""Shared pytest configuration.

VM tests (marker `vm`) need a kernel with PPP; `make test-vm` runs them
inside the QEMU guest.  On the host they are deselected by `make test-host`;
run directly here they are skipped with the reason.
"""
import os

import pytest


def in_vm() -> bool:
    return os.environ.get("PPPUP_IN_VM") == "1"


def pytest_collection_modifyitems(config, items):
    if in_vm():
        return
    skip_vm = pytest.mark.skip(reason="needs the PPP kernel: run `make test-vm` (boots the QEMU guest)")
    for item in items:
        # [vm runner] the marker, not the keyword: "vm" is also in the keywords
        # of every test under tests/vm/ (the package name), host-side ones included.
        if item.get_closest_marker("vm") is not None:
            item.add_marker(skip_vm)


def pytest_report_header(config):
    from tests import nulldev
    if not nulldev.genuine():
        return [f"NOTE: {nulldev.describe()} -- not the kernel's devices; the closed-stdio "
                "tests expect glibc to halt the setuid shim (see tests/nulldev.py)"]
    return []
