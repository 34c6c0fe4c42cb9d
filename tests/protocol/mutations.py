"""A seed corpus of requests (valid ones and every attack case of class M) and a
byte-level mutator, shared by the hypothesis tests and `make fuzz`."""
from __future__ import annotations

import random

CORPUS: list[bytes] = [
    b"op=status\n",
    b"op=acquire\nline=modem1\naccount=work\n",
    b"op=hangup\n",
    b"op=start_pppd\npeer=isp1\nflags=debug,novj\nuser=alice@isp\nsecret=s3cr et=x\ntimeout=60\n",
    b"op=release\n",
    b"op=stop\ntarget=modem1\nall=0\n",
    b"op=stop\ntarget=\nall=1\n",
    # class M regressions: resource-naming fields, numbers, encodings
    b"op=acquire\nline=modem1\naccount=work\ndevice=/dev/ttyS0\n",
    b"op=acquire\nline=modem1\naccount=isp\nplugin /tmp/x.so\n",
    b"op=start_pppd\npeer=../../tmp/x\nflags=plugin\nuser=\nsecret=\ntimeout=4294967296\n",
    b"op=start_pppd\npeer=isp\nflags=\nuser=\nsecret=\ntimeout=1_0\n",
    b"op=stop\ntarget=\nall=1\nuid=0\n",
    b'{"op":"status"}',
    b"op=status\x00\n",
    b"\xef\xbb\xbfop=status\n",
]

_INTERESTING = [b"\n", b"=", b",", b"\x00", b"\xff", b"\r", b" ", b"-", b"/", b"..", b"op=", b"9" * 11,
                b"\xd9\xa1", b"\x1b[", b"%n", b"a" * 200]


def mutate(seed: bytes, rng: random.Random) -> bytes:
    """Apply 1-4 random byte-level edits to `seed`."""
    data = bytearray(seed)
    for _ in range(rng.randint(1, 4)):
        choice = rng.randrange(6)
        pos = rng.randint(0, len(data))
        if choice == 0 and data:
            del data[min(pos, len(data) - 1)]
        elif choice == 1:
            data[pos:pos] = bytes([rng.randrange(256)])
        elif choice == 2 and data:
            data[min(pos, len(data) - 1)] = rng.randrange(256)
        elif choice == 3:
            data[pos:pos] = rng.choice(_INTERESTING)
        elif choice == 4 and data:
            end = min(len(data), pos + rng.randint(1, 16))
            data[pos:pos] = data[pos:end] * rng.randint(1, 300)
        else:
            other = rng.choice(CORPUS)
            cut = rng.randint(0, len(other))
            data[pos:] = other[cut:]
    return bytes(data)
