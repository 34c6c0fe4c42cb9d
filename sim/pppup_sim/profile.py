"""A modem's settings: the active profile, the stored one and the factory one.

A profile is everything `&W` saves and `ATZ`/`&F` restore: the basic
switches (E, V, Q, X...), `&C`, `&D`, the S-registers and the vendor
commands we accept but do not act on (they are kept so `&V` can show them,
as a real modem would).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

# S-registers 0..99 exist (values 0..255); these have meaning here.
S_AUTO_ANSWER = 0      # rings before auto-answer, 0 = off
S_RING_COUNT = 1       # rings counted so far
S_ESCAPE_CHAR = 2      # escape character, >127 disables the escape
S_CR = 3               # command line terminator / result framing
S_LF = 4               # result framing
S_BACKSPACE = 5        # command line editing character
S_CARRIER_WAIT = 7     # seconds to wait for carrier after dial or answer, 0 = no limit
S_COMMA_PAUSE = 8      # seconds a `,` in a dial string pauses
S_GUARD = 12           # escape guard time in 1/50 s
S_REGISTER_COUNT = 100

FACTORY_S = {0: 0, 1: 0, 2: 43, 3: 13, 4: 10, 5: 8, 6: 2, 7: 50, 8: 2,
             9: 6, 10: 14, 11: 95, 12: 50}


def _factory_registers() -> list[int]:
    registers = [0] * S_REGISTER_COUNT
    for number, value in FACTORY_S.items():
        registers[number] = value
    return registers


@dataclass
class Profile:
    echo: bool = True            # E1
    verbose: bool = True         # V1
    quiet: bool = False          # Q0
    dcd_mode: int = 1            # &C1: DCD follows the carrier
    dtr_mode: int = 2            # &D2: DTR drop hangs up
    result_set: int = 4          # X4 (kept and shown; results are always the full set)
    s: list[int] = field(default_factory=_factory_registers)
    # vendor commands accepted without effect, e.g. {"\\Q": 3, "M": 1, "#CC": 1}
    extras: dict[str, int] = field(default_factory=dict)

    def copy(self) -> "Profile":
        return dataclasses.replace(self, s=list(self.s), extras=dict(self.extras))

    def switches(self) -> str:
        """The one-line summary `&V` prints, e.g. `E1 Q0 V1 X4 &C1 &D2 M1`."""
        parts = [f"E{int(self.echo)}", f"Q{int(self.quiet)}", f"V{int(self.verbose)}",
                 f"X{self.result_set}", f"&C{self.dcd_mode}", f"&D{self.dtr_mode}"]
        parts += [f"{name}{value}" for name, value in sorted(self.extras.items())]
        return " ".join(parts)

    def registers_text(self) -> str:
        """`S00:000 S01:000 ...` for S0-S12 plus any other register not at 0."""
        shown = [n for n in range(S_REGISTER_COUNT) if n <= 12 or self.s[n] != 0]
        return " ".join(f"S{n:02d}:{self.s[n]:03d}" for n in shown)

    def as_dict(self) -> dict:
        return {"echo": self.echo, "verbose": self.verbose, "quiet": self.quiet,
                "dcd_mode": self.dcd_mode, "dtr_mode": self.dtr_mode,
                "result_set": self.result_set,
                "s": {n: v for n, v in enumerate(self.s) if n <= 12 or v != 0},
                "extras": dict(self.extras)}


def factory_profile() -> Profile:
    return Profile()
