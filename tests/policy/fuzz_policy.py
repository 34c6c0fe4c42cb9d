"""`make fuzz` campaign for the policy parser/validator: N seeded mutations of
the corpus (default 100,000), each must give a valid Policy or PolicyErrors
(see mutations.check_outcome).  Exits 1 on the first other outcome, printing
the input.  Needs root (the validator checks a root-owned pppd directory)."""
from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from policy.mutations import CORPUS, check_outcome, mutate  # noqa: E402
from policy.support import World  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--inputs", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("policy fuzz: run as root (the validator checks root-owned files)", file=sys.stderr)
        return 2
    root = tempfile.mkdtemp(prefix="pppt-policy-fuzz-", dir="/run")
    os.chmod(root, 0o755)
    try:
        world = World(root)
        rng = random.Random(args.seed)
        started = time.monotonic()
        accepted = 0
        for _ in range(args.inputs):
            data = mutate(rng.choice(CORPUS), rng)
            try:
                accepted += check_outcome(data, world.policy, world.ppp)
            except Exception:
                print(f"policy fuzz: FAILED on input {data!r}", file=sys.stderr)
                raise
        elapsed = time.monotonic() - started
        print(f"policy fuzz: {args.inputs} inputs ({accepted} valid policies, the rest refused with "
              f"file:line errors), no crash, seed {args.seed}, {elapsed:.1f} s")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
