"""docs/reliability.md from the reliability runs' results: the fault sweep, the races, mgetty.

Each run saves its results as JSON under .cache/reliability/ (the races, on
the host) or under the VM's shared results directory (the sweep and the
mgetty interop, written from the guest, whose repository is read-only).
The document's sections are regenerated from those files, each between its
own markers, so the rest of the page (the prose) stays as written:

    .venv/bin/python -m tests.reliability_report [--vm-results DIR]

A section is replaced only by a complete run: a reduced sweep or a short
race run (make test) leaves the committed figures of the last full run
(make stress) in place and says so on stdout.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "reliability.md"
CACHE = REPO / ".cache" / "reliability"
FULL_RACE_TRIALS = 1000


# ------------------------------------------------------------------ files
def save(name: str, data: dict[str, Any], directory: Path = CACHE) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    tmp.replace(path)
    return path


def load(name: str, directory: Path = CACHE) -> dict[str, Any] | None:
    try:
        return json.loads((directory / f"{name}.json").read_text())
    except (OSError, ValueError):
        return None


def replace_section(name: str, body: str, doc: Path = DOC) -> None:
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = doc.read_text() if doc.exists() else "# Reliability\n"
    block = f"{begin}\n{body.rstrip()}\n{end}"
    if begin in text and end in text:
        before, rest = text.split(begin, 1)
        _, after = rest.split(end, 1)
        text = before + block + after
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    doc.write_text(text)


# ------------------------------------------------------------------ races
def races_markdown(r: dict[str, Any]) -> str:
    wins = ", ".join(f"{line} {count}" for line, count in sorted(r["wins"].items()))
    rows = [
        ("trials (all users at once)", f"{r['trials']}"),
        ("users / lines", f"{r['users']} / {r['lines']}"),
        ("acquire attempts", f"{r['attempts']}"),
        ("wins per line", wins),
        ("losers", f"{r['losers']}"),
        ("losers told who holds the line", f"{r['losers_told_holder']}"),
        ("... of them refused before the winner had its own answer", f"{r['losers_before_winner']}"),
        ("**violations** (two owners of a line at once)", f"**{r['violations']}**"),
        ("raced-for lines nobody got", f"{r['no_winner']}"),
        ("winner not the owner in the record / lock files", f"{r['owner_mismatch']}"),
        ("record or lock left after release", f"{r['not_released']}"),
        ("losers refused without naming the holder", f"{r['loser_unexplained']}"),
        ("time", f"{r['seconds']:.0f} s in all; per trial median {r['trial_median_s']:.2f} s, "
                 f"p95 {r['trial_p95_s']:.2f} s"),
    ]
    lines = [
        "## Races: 50 users, 4 lines (tests/races, `make stress`)",
        "",
        f"Run {r['date']} on {r['host']} (load {r['load']:.1f} at the end).  Each trial sends all "
        f"{r['users']} racers at once (a seeded random line each) through the installed setuid shim; "
        "winners hold their line until every answer is in, then release it.",
        "",
        "| measure | result |",
        "|---|---|",
        *[f"| {a} | {b} |" for a, b in rows],
    ]
    for kind, examples in sorted(r.get("examples", {}).items()):
        lines += ["", f"Examples of {kind}:", *[f"- `{e}`" for e in examples]]
    return "\n".join(lines)


def write_races(r: dict[str, Any]) -> bool:
    if r["trials"] < FULL_RACE_TRIALS:
        print(f"reliability: races ran {r['trials']} trials (< {FULL_RACE_TRIALS}): "
              "docs/reliability.md keeps the last full run")
        return False
    replace_section("races", races_markdown(r))
    return True


# ------------------------------------------------------------------ the fault sweep
def sweep_grid() -> tuple[tuple[str, ...], tuple[str, ...], dict[str, str], dict[tuple[str, str], str]]:
    from tests.vm import faults          # the grid's definition (phases, faults, n/a reasons)
    return faults.PHASES, faults.FAULTS, faults.FAULT_TITLES, faults.NOT_APPLICABLE


def sweep_complete(sweep: dict[str, Any]) -> bool:
    phases, faults, _, not_applicable = sweep_grid()
    ran = {(c["phase"], c["fault"]) for c in sweep["cells"]}
    return all((p, f) in ran for p in phases for f in faults if (p, f) not in not_applicable)


def _cell_text(runs: list[dict[str, Any]]) -> str:
    if not runs:
        return "not run"
    ok = [r for r in runs if r["converged"]]
    times = sorted(r["seconds"] for r in ok if r["seconds"] is not None)
    if len(ok) < len(runs):
        return f"**NOT converged** ({len(runs) - len(ok)} of {len(runs)})"
    span = f"{times[0]:.1f} s" if len(times) == 1 or times[0] == times[-1] else f"{times[0]:.1f}-{times[-1]:.1f} s"
    counted = f" {len(ok)}/{len(runs)}" if len(runs) > 1 else ""
    if any(r["outcome"] == "kept up" for r in runs):
        return f"link kept, owned{counted} ({span})"
    return f"converged{counted}, {span}"


def sweep_markdown(sweep: dict[str, Any]) -> str:
    phases, faults, titles, not_applicable = sweep_grid()
    cells: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for cell in sweep["cells"]:
        cells.setdefault((cell["phase"], cell["fault"]), []).append(cell)
    rounds = max((c.get("round", 1) for c in sweep["cells"]), default=1)
    reasons: dict[str, int] = {}
    for key in sorted(set(not_applicable.values()), key=list(not_applicable.values()).index):
        reasons[key] = len(reasons) + 1
    ran = [c for c in sweep["cells"] if c["outcome"] != "not run"]
    converged = [c for c in ran if c["converged"]]
    times = sorted(c["seconds"] for c in converged if c["seconds"] is not None)
    wall = sum(c.get("wall") or 0 for c in sweep["cells"])
    lines = [
        "## Fault sweep (tests/vm/test_faults.py, in `make test`)",
        "",
        f"Run {sweep.get('started', '?')} - {sweep.get('finished', '?')} in the test VM (TCG, 2 vCPUs)"
        f"{f', {rounds} rounds of the grid' if rounds > 1 else ''}: {len(converged)} of {len(ran)} cells "
        f"converged; the sweep took {wall / 60:.1f} min (plus one guest boot).  Time = from the fault until "
        "the line was verified clean (for a kept link: until the record and `pppup status` said \"up\", "
        "owned by the user).",
        "",
        "| phase | " + " | ".join(titles[f] for f in faults) + " |",
        "|---|" + "---|" * len(faults),
    ]
    for phase in phases:
        row = []
        for fault in faults:
            if (phase, fault) in not_applicable:
                row.append(f"n/a ({reasons[not_applicable[phase, fault]]})")
            else:
                row.append(_cell_text(cells.get((phase, fault), [])))
        lines.append(f"| {phase} | " + " | ".join(row) + " |")
    lines += ["", "n/a: " + "; ".join(f"({n}) {reason}" for reason, n in reasons.items()) + "."]
    if times:
        lines += ["", f"Time to converge: median {times[len(times) // 2]:.1f} s, "
                      f"longest {times[-1]:.1f} s."]
    lines += ["", "What each cell saw (the next `pppup status` right after the fault; what the client "
                  "said; what happened after; first round):", ""]
    for phase in phases:
        for fault in faults:
            runs = cells.get((phase, fault))
            if not runs:
                continue
            cell = runs[0]
            detail = [f"next status: {cell['first_status']}"] if cell.get("first_status") else []
            detail += [n for n in cell["notes"] if not n.startswith("a fresh pppup")]
            detail += [n for n in cell["notes"] if n.startswith("a fresh pppup")]
            problems = [p for r in runs for p in r["problems"]]
            if problems:
                detail.append("PROBLEMS: " + "; ".join(problems))
            lines.append(f"- **{phase} / {titles[fault]}**: " + "; ".join(detail) + ".")
    return "\n".join(lines)


def write_sweep(sweep: dict[str, Any]) -> bool:
    if not sweep_complete(sweep):
        print("reliability: the fault sweep did not run every cell: docs/reliability.md keeps the last full run")
        return False
    replace_section("faults", sweep_markdown(sweep))
    return True


# ------------------------------------------------------------------ mgetty
def mgetty_markdown(m: dict[str, Any]) -> str:
    lines = [
        "## Interop with mgetty (tests/vm/test_mgetty.py, in `make test`)",
        "",
        f"Run {m['date']} in the test VM: Debian's mgetty 1.2.1 (`mgetty -x 6 -D -n 1 -s 38400 ttyS1`, "
        "the package's /etc/mgetty configuration, restarted whenever it exits as init's respawn would) "
        "waits for calls on the same UART that a user's `pppup` dials out on through the first seed's "
        "call-back flow.",
        "",
        "Timeline:",
        "",
        *[f"    {s}" for s in m["steps"]],
        "",
        "mgetty's log when pppup took the line (it checks for locks only when there is activity on "
        "the line, without reading it; then it closes the line and polls for the lock every 10 s):",
        "",
        *[f"    {s}" for s in m["mgetty_dialout"]],
        "",
        "mgetty's log after its restart, and when the outside call came:",
        "",
        *[f"    {s}" for s in m["mgetty_restart"] + m["mgetty_answer"]],
    ]
    if m.get("pppup_refused"):
        lines += ["", f"pppup while mgetty held the line: `{m['pppup_refused']}`"]
    return "\n".join(lines)


def write_mgetty(m: dict[str, Any]) -> None:
    replace_section("mgetty", mgetty_markdown(m))


# ------------------------------------------------------------------ main
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability_report",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--vm-results", type=Path, help="the VM suite's results directory (.cache/vm/results)")
    options = parser.parse_args(argv)
    races = load("races")
    if races is not None:
        write_races(races)
    if options.vm_results is not None:
        sweep = load("faults", options.vm_results)
        if sweep is not None:
            save("faults", sweep)
            write_sweep(sweep)
        mgetty = load("mgetty", options.vm_results)
        if mgetty is not None:
            save("mgetty", mgetty)
            write_mgetty(mgetty)
    return 0


if __name__ == "__main__":
    sys.exit(main())
