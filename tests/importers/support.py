"""Shared by the importer tests: run an import into a temporary directory and load what it wrote."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple

from pppup import accounts
from pppup.importers import outputs
from pppup.importers.draft import Draft, ImportOptions
from pppup.importers.kppp import import_kppp
from pppup.importers.peers import import_peers
from pppup.importers.report import Report
from pppup.importers.wvdial import import_wvdial

DATA = Path(__file__).resolve().parent.parent / "data" / "import"
ROOT = DATA / "root"                 # a copy of an old machine's /etc (pppup import peers --root)
WVDIAL = DATA / "wvdial"
KPPP = DATA / "kppp"
USER = "root"                        # the tests run as root; the policy rules name this user


class Imported(NamedTuple):
    draft: Draft
    report: Report
    plan: outputs.Plan
    directory: Path

    def file(self, suffix: str) -> Path:
        return self.directory / f"{self.draft.name}{suffix}"

    def text(self, suffix: str) -> str:
        return self.file(suffix).read_text()

    def account(self) -> accounts.Account:
        return accounts.load_file(str(self.file(".toml")), "user")

    def peer_options(self) -> list[str]:
        """The option lines of the new peer file (no comments, no blank lines)."""
        return [line for line in self.text(".peer").splitlines() if line and not line.startswith("#")]

    def fixes(self) -> list[str]:
        return self.report.texts("fix")

    def dropped(self) -> list[str]:
        return self.report.texts("dropped")

    def notes(self) -> list[str]:
        return self.report.texts("note")


def write_out(draft: Draft, report: Report, directory: Path) -> Imported:
    plan = outputs.plan(draft, report, str(directory), USER)
    outputs.write(plan.outputs, force=False)
    return Imported(draft, report, plan, directory)


def peers(name: str, directory: Path, root: Path = ROOT, **options: Any) -> Imported:
    report = Report()
    draft = import_peers(name, ImportOptions(user=USER, **options), report, str(root))
    return write_out(draft, report, directory)


def wvdial(file: str, section: str | None, directory: Path, **options: Any) -> Imported:
    report = Report()
    draft = import_wvdial(str(WVDIAL / file), section, ImportOptions(user=USER, **options), report)
    return write_out(draft, report, directory)


def kppp(file: str, directory: Path, account: str | None = None, **options: Any) -> list[Imported]:
    results = import_kppp(str(KPPP / file), account, ImportOptions(user=USER, **options), Report())
    return [write_out(draft, report, directory) for draft, report in results]


def mode(path: Path) -> int:
    return os.stat(path).st_mode & 0o777
