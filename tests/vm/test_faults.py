"""The fault sweep (VM): four faults at each of ten phases of the call-back flow; every cell converges.

See tests/vm/faults.py for the phases and the triggers, fault_sweep.py for a
cell's steps, observe.py for what "converged" means.  One guest runs the
whole grid, one cell after the other; each cell first checks that the line
is clean (the previous cell's end), so cells are isolated by proof, not by
reboots.  Results: $PPPUP_VM_OUT/faults.json, the
table in docs/reliability.md (tests/reliability_report.py).
"""
from __future__ import annotations

import os

import pytest

from pppup_sim import World

from tests.vm.fault_sweep import Sweep
from tests.vm.faults import (FAULTS, NOT_APPLICABLE, PHASES, CellResult, install_fault_peer, save_cell, sweep_world,
                             write_accounts, write_fault_policy)
from tests.vm.observe import SyslogCollector
from tests.vm.flows import ann, guest  # noqa: F401

pytestmark = pytest.mark.vm

# make stress runs the grid FAULT_ROUNDS times over (the same guest, one cell after the other).
ROUNDS = int(os.environ.get("FAULT_ROUNDS", "1"))
CELLS = [(phase, fault, n) for n in range(1, ROUNDS + 1) for phase in PHASES for fault in FAULTS
         if (phase, fault) not in NOT_APPLICABLE]


@pytest.fixture(scope="module")
def sweep(guest, ann):
    install_fault_peer()
    write_accounts(ann)
    policy = write_fault_policy([ann.name])
    syslog = SyslogCollector()
    try:
        with World(sweep_world()) as world:
            yield Sweep(world, ann, syslog)
    finally:
        syslog.close()
        policy.restore()


@pytest.mark.parametrize("phase,fault,round_", CELLS,
                         ids=[(f"{p}/{f}" + (f"/{n}" if ROUNDS > 1 else "")).replace(" ", "-") for p, f, n in CELLS])
def test_fault_converges(sweep, phase, fault, round_):
    result = CellResult(phase, fault, round=round_)
    try:
        sweep.run_cell(result)
    finally:
        save_cell(result)
        print(f"{phase} / {fault}: {result.outcome}"
              f"{f' in {result.seconds:.1f} s' if result.seconds is not None else ''}; "
              f"first status: {result.first_status}; {'; '.join(result.notes)}"
              f"{'; PROBLEMS: ' + '; '.join(result.problems) if result.problems else ''}")
        for line in result.log:
            print(f"    syslog: {line}")
    assert result.converged
