"""`make fuzz` campaign for the request decoder: N seeded mutations of the corpus
(default 100,000), each must decode to a schema-valid request or be refused
with ProtocolError.  Exits 1 on the first other outcome, printing the input."""
from __future__ import annotations

import argparse
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from protocol.mutations import CORPUS, mutate  # noqa: E402
from protocol.test_codec_fuzz import check_decoded  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--inputs", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    started = time.monotonic()
    accepted = 0
    for _ in range(args.inputs):
        data = mutate(rng.choice(CORPUS), rng)
        try:
            accepted += check_decoded(data)
        except Exception:
            print(f"decoder fuzz: FAILED on input {data!r}", file=sys.stderr)
            raise
    elapsed = time.monotonic() - started
    print(f"decoder fuzz: {args.inputs} inputs ({accepted} decoded, the rest refused), no crash, seed {args.seed}, {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
