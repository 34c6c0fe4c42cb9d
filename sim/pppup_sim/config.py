"""The world description: TOML file or the same structure as a dict, validated.

Every error names the key that is wrong and says what is expected, e.g.
`world.toml: numbers."555": give exactly one of host, modem, outcome`.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pppup_protocol.errors import Code, PppupError

from .results import BUSY, NO_ANSWER, NO_CARRIER, NO_DIALTONE

OUTCOMES = {"busy": BUSY, "no-answer": NO_ANSWER, "no-carrier": NO_CARRIER,
            "no-dialtone": NO_DIALTONE}
HOST_KINDS = ("isp", "login", "callback", "blob", "echo", "script")
DEFAULT_SPEED = 33600


class ConfigError(PppupError):
    code = Code.CONFIG


@dataclass(frozen=True)
class Delays:
    dial: float = 2.0             # ATD -> first ring / fixed outcome
    ring_interval: float = 6.0    # RING cadence
    connect: float = 3.0          # answer -> CONNECT (training)
    host_answer_rings: int = 1    # rings before a host picks up
    max_rings: int = 0            # unanswered rings before the caller gets NO ANSWER; 0 = no limit


@dataclass(frozen=True)
class ModemConfig:
    name: str
    port: str = "pty"             # "pty" | "uart"
    number: str | None = None
    speed: int = DEFAULT_SPEED
    dialtone: bool = True
    profile: str = ""             # AT commands applied to factory defaults
    uart: str | None = None       # "ttyS1" (uart ports)
    vport: str | None = None      # virtio port name, e.g. "line1" (uart ports)
    dte_close_drops_dtr: bool = False   # pty: treat the DTE's last close as DTR off (HUPCL)


@dataclass
class NumberSpec:
    number: str
    host: str | None = None
    modem: str | None = None
    outcome: str | None = None    # key of OUTCOMES
    busy_first: int = 0
    delay: float | None = None
    speed: int | None = None


@dataclass(frozen=True)
class HostConfig:
    name: str
    kind: str
    pppd: tuple[str, ...] = ()
    speed: int = DEFAULT_SPEED
    lines: int = 1                          # simultaneous calls; more get BUSY
    options: dict[str, Any] = field(default_factory=dict)   # kind-specific settings


@dataclass(frozen=True)
class WorldConfig:
    delays: Delays = field(default_factory=Delays)
    modems: dict[str, ModemConfig] = field(default_factory=dict)
    numbers: dict[str, NumberSpec] = field(default_factory=dict)
    hosts: dict[str, HostConfig] = field(default_factory=dict)
    control: str | None = None              # control socket path (CLI)
    pap_secrets_file: str = "/etc/ppp/pap-secrets"


def _fail(where: str, message: str) -> ConfigError:
    return ConfigError(f"{where}: {message}", Code.CONFIG)


def _take(table: dict, where: str, key: str, kind: type | tuple[type, ...], default: Any) -> Any:
    if key not in table:
        return default
    value = table.pop(key)
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if float in kinds and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise _fail(f"{where}.{key}", f"expected {names}, got {value!r}")
    return value


def _no_leftovers(table: dict, where: str) -> None:
    if table:
        raise _fail(where, f"unknown key(s) {', '.join(sorted(table))}; see sim/README.md")


def _table(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise _fail(where, f"expected a table, got {value!r}")
    return dict(value)


def _number_text(value: str, where: str) -> str:
    if not value or not all(ch in "0123456789*#ABCD" for ch in value):
        raise _fail(where, f"phone number {value!r} must be digits (and * # A-D)")
    return value


def parse_config(raw: dict, source: str = "world") -> WorldConfig:
    top = _table(raw, source)
    delays_raw = _table(top.pop("delays", {}), f"{source}: delays")
    delays = Delays(**{k: _take(delays_raw, f"{source}: delays", k, type(v), v)
                       for k, v in Delays().__dict__.items()})
    _no_leftovers(delays_raw, f"{source}: delays")

    modems = {name: _modem(name, _table(spec, f"{source}: modems.{name}"), f"{source}: modems.{name}")
              for name, spec in _table(top.pop("modems", {}), f"{source}: modems").items()}
    hosts = {name: _host(name, _table(spec, f"{source}: hosts.{name}"), f"{source}: hosts.{name}")
             for name, spec in _table(top.pop("hosts", {}), f"{source}: hosts").items()}
    numbers = {}
    for number, spec in _table(top.pop("numbers", {}), f"{source}: numbers").items():
        where = f'{source}: numbers."{number}"'
        numbers[number] = number_spec(number, _table(spec, where), where, modems, hosts)
    for modem in modems.values():
        if modem.number is None:
            continue
        if modem.number in numbers:
            raise _fail(f'{source}: numbers."{modem.number}"',
                        f"is also modem {modem.name}'s own number; remove one")
        numbers[modem.number] = NumberSpec(modem.number, modem=modem.name)
    control = _take(top, source, "control", str, None)
    pap_file = _take(top, source, "pap_secrets_file", str, WorldConfig.pap_secrets_file)
    _no_leftovers(top, source)
    return WorldConfig(delays, modems, numbers, hosts, control, pap_file)


def _modem(name: str, spec: dict, where: str) -> ModemConfig:
    port = _take(spec, where, "port", str, "pty")
    if port not in ("pty", "uart"):
        raise _fail(f"{where}.port", f'expected "pty" or "uart", got {port!r}')
    number = _take(spec, where, "number", str, None)
    if number is not None:
        _number_text(number, f"{where}.number")
    config = ModemConfig(
        name=name, port=port, number=number,
        speed=_take(spec, where, "speed", int, DEFAULT_SPEED),
        dialtone=_take(spec, where, "dialtone", bool, True),
        profile=_take(spec, where, "profile", str, ""),
        uart=_take(spec, where, "uart", str, None),
        vport=_take(spec, where, "vport", str, None),
        dte_close_drops_dtr=_take(spec, where, "dte_close_drops_dtr", bool, False))
    if port == "uart" and (config.uart is None or config.vport is None):
        raise _fail(where, 'a "uart" port needs uart = "ttySn" and vport = "<virtio port name>"')
    _no_leftovers(spec, where)
    return config


def number_spec(number: str, spec: dict, where: str, modems: dict[str, ModemConfig],
                hosts: dict[str, HostConfig]) -> NumberSpec:
    _number_text(number, where)
    result = NumberSpec(
        number=number,
        host=_take(spec, where, "host", str, None),
        modem=_take(spec, where, "modem", str, None),
        outcome=_take(spec, where, "outcome", str, None),
        busy_first=_take(spec, where, "busy_first", int, 0),
        delay=_take(spec, where, "delay", float, None),
        speed=_take(spec, where, "speed", int, None))
    _no_leftovers(spec, where)
    targets = [t for t in (result.host, result.modem, result.outcome) if t is not None]
    if len(targets) != 1:
        raise _fail(where, "give exactly one of host, modem, outcome")
    if result.host is not None and result.host not in hosts:
        raise _fail(f"{where}.host", f"no host named {result.host!r} in [hosts]")
    if result.modem is not None and result.modem not in modems:
        raise _fail(f"{where}.modem", f"no modem named {result.modem!r} in [modems]")
    if result.outcome is not None and result.outcome not in OUTCOMES:
        raise _fail(f"{where}.outcome", f"expected one of {', '.join(OUTCOMES)}")
    if result.busy_first < 0:
        raise _fail(f"{where}.busy_first", "must be 0 or more")
    return result


def _host(name: str, spec: dict, where: str) -> HostConfig:
    kind = _take(spec, where, "kind", str, None)
    if kind not in HOST_KINDS:
        raise _fail(f"{where}.kind", f"expected one of {', '.join(HOST_KINDS)}, got {kind!r}")
    pppd = _take(spec, where, "pppd", list, [])
    if not all(isinstance(arg, str) for arg in pppd):
        raise _fail(f"{where}.pppd", "expected a list of strings (the argv of the remote pppd)")
    if kind in ("isp", "login", "callback") and not pppd:
        raise _fail(f"{where}.pppd", f"a {kind} host needs the argv of its pppd")
    speed = _take(spec, where, "speed", int, DEFAULT_SPEED)
    lines = _take(spec, where, "lines", int, 1)
    # the rest is checked by the host kind itself (hosts.py)
    from .hosts import validate_options
    options = validate_options(kind, spec, where)
    return HostConfig(name, kind, tuple(pppd), speed, lines, options)


def load_config(path: str | Path) -> WorldConfig:
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the world description: {error.strerror}") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: {error}; fix the TOML syntax") from error
    return parse_config(raw, str(path))
