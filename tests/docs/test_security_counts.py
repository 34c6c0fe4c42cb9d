"""SECURITY.md's test counts are what the test suite holds today, and the
security document names only files and make targets that exist."""
from __future__ import annotations

import os
import re

import security_counts
from docs_support import ROOT, read


def test_security_md_counts_are_current():
    expected = security_counts.block(security_counts.collect())
    written = security_counts.current_block(read("SECURITY.md"))
    assert written == expected, ("SECURITY.md's test counts are out of date: run "
                                 ".venv/bin/python tests/docs/security_counts.py --write")


def test_counted_attack_cases_meet_the_issue():
    # Issue 4: at least 60 cases against the installed shim.
    total = re.search(r"\| \| \*\*total\*\* \| \*\*(\d+)\*\*", read("SECURITY.md"))
    assert total is not None and int(total.group(1)) >= 60


def test_files_and_targets_named_exist():
    text = read("SECURITY.md")
    for path in set(re.findall(r"`((?:tests|csrc|helper|client|docs)/[\w./-]+)`", text)):
        assert os.path.exists(os.path.join(ROOT, path)), path
    makefile = read("Makefile")
    for target in set(re.findall(r"`make ([a-z-]+)", text)):
        assert re.search(rf"^{target}:", makefile, re.M), f"make {target}"
