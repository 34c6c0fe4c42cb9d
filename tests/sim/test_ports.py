"""DTE ports: the pty (host) for real, the UART (VM) against stand-ins.

The UART port's two kernel interfaces are replaced here by files we
control: a directory shaped like /sys/class/virtio-ports, a pty standing in
for the virtio port's character device, and a text file in the format of
/proc/tty/driver/serial whose DTR we flip.  The real ones are exercised by
the VM tests.
"""
import os
import stat
import termios
import time

import pytest

from pppup_sim import ports
from pppup_sim.ports import PortError, find_vport, parse_proc_serial, uart_index

from .helpers import Dte

PROC_TEXT = """serinfo:1.0 driver revision:
0: uart:16550A port:000003F8 irq:4 tx:1234 rx:0 RTS|CTS|DTR|DSR|CD
1: uart:16550A port:000002F8 irq:3 tx:16 rx:17 fe:2 brk:1 RTS|CTS|DTR|DSR|CD
2: uart:16550A port:000003E8 irq:4 tx:0 rx:0 CTS|DSR|CD
3: uart:unknown port:000002E8 irq:3
"""


# ---------------------------------------------------------------- /proc/tty/driver/serial

def test_proc_parser_reads_the_signals_of_one_line():
    assert parse_proc_serial(PROC_TEXT, 1) == {"RTS", "CTS", "DTR", "DSR", "CD"}
    assert "DTR" not in parse_proc_serial(PROC_TEXT, 2)
    assert parse_proc_serial(PROC_TEXT, 3) is None          # no UART there
    assert parse_proc_serial(PROC_TEXT, 7) is None          # no such line


def test_proc_parser_line_without_any_signal():
    assert parse_proc_serial("1: uart:16550A port:000002F8 irq:3 tx:0 rx:0\n", 1) == set()


def test_uart_index():
    assert uart_index("ttyS1") == 1 and uart_index("/dev/ttyS12") == 12
    with pytest.raises(PortError, match="not ttyS<n>"):
        uart_index("ttyUSB0")


def test_find_vport_by_name(tmp_path):
    for entry, name in (("vport0p0", "console"), ("vport1p1", "line1"), ("vport1p2", "line2")):
        (tmp_path / entry).mkdir()
        (tmp_path / entry / "name").write_text(name + "\n")
    assert find_vport("line2", str(tmp_path)) == "/dev/vport1p2"
    with pytest.raises(PortError, match="no virtio port named 'line9'"):
        find_vport("line9", str(tmp_path))
    with pytest.raises(PortError, match="cannot list"):
        find_vport("line1", str(tmp_path / "missing"))


# ---------------------------------------------------------------- the pty port, for real

def test_pty_slave_is_raw_and_root_owned(make_world):
    world = make_world({"modems": {"A": {}}})
    path = world.tty_path("A")
    info = os.stat(path)
    assert stat.S_ISCHR(info.st_mode) and info.st_uid == os.getuid() == 0
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    try:
        iflag, oflag, _, lflag, _, _, _ = termios.tcgetattr(fd)
        assert not iflag & (termios.ICRNL | termios.IXON | termios.ISTRIP)
        assert not oflag & termios.OPOST
        assert not lflag & (termios.ECHO | termios.ICANON | termios.ISIG)
    finally:
        os.close(fd)


def test_dte_that_writes_and_closes_at_once_loses_nothing(make_world):
    world = make_world({"modems": {"A": {}}})
    path = world.tty_path("A")
    mark = world.mark()
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    os.write(fd, b"ATS0=7\r")
    os.close(fd)
    world.wait_event("dte", source="A", present=False, after=mark)
    assert world.state("A")["s"][0] == 7                     # the line was executed
    present = [e.data["present"] for e in world.events(kind="dte", after=mark)]
    assert present == [True, False]


def test_next_dte_gets_a_clean_line(make_world, dte):
    world = make_world({"modems": {"A": {}}})
    path = world.tty_path("A")
    first = dte(path)
    first.send("ATE0\r")                    # the OK is never read by this DTE
    world.wait_event("result", source="A")
    first.close()
    world.wait_event("dte", source="A", present=False)
    world.ring("A")                         # nobody has the port open: RING is lost
    world.wait_event("ring", source="A")
    second = dte(path)
    second.send("AT\r")
    assert second.expect("OK\r\n") == b"\r\nOK\r\n"          # no stale OK or RING before it


def test_dte_close_drops_dtr_when_configured(make_world, dte):
    world = make_world({"modems": {"A": {"dte_close_drops_dtr": True}}})
    path = world.tty_path("A")
    first = dte(path)
    first.send("AT&D3&W\r")
    first.expect("OK\r\n")
    first.send("ATS0=1\r")
    first.expect("OK\r\n")
    first.close()
    world.wait_event("reset", source="A", how="dtr")
    assert world.state("A")["s"][0] == 0


def test_dte_close_does_not_touch_the_modem_by_default(make_world, dte):
    world = make_world({"modems": {"A": {}}})
    first = dte(world.tty_path("A"))
    first.send("AT&D3S0=1\r")
    first.expect("OK\r\n")
    first.close()
    world.wait_event("dte", source="A", present=False)
    assert world.state("A")["s"][0] == 1 and world.events(kind="dtr") == []


def test_output_to_a_slow_reader_is_buffered_not_lost(make_world, dte):
    world = make_world({"modems": {"A": {}}, "numbers": {"9": {"host": "n"}},
                        "hosts": {"n": {"kind": "blob", "size": 3_000_000, "trailer": "END"}}})
    a = dte(world.tty_path("A"))
    a.send("ATD9\r")
    a.expect("CONNECT 33600\r\n")
    time.sleep(0.3)                          # far more than a pty buffer is waiting now
    assert len(a.expect("END", timeout=20)) == 3_000_003


def test_turnarounds_record_write_done_and_next_read(make_world, dte):
    world = make_world({"modems": {"A": {}}})
    a = dte(world.tty_path("A"))
    a.send("ATE0\r")
    a.expect("OK\r\n")
    time.sleep(0.05)
    sent = time.monotonic()
    a.send("AT\r")
    a.expect("OK\r\n")
    write_done, next_read = world.turnarounds("A")[-1]
    # (when the first OK was fully written, when `AT` was read): the DTE's reaction time
    assert write_done < sent <= next_read
    assert next_read - write_done >= 0.05


# ---------------------------------------------------------------- the UART port, stand-ins

@pytest.fixture
def fake_uart(tmp_path, monkeypatch):
    """A virtio port (a pty: the master plays QEMU's UART side) and a /proc file we control."""
    master, slave = os.openpty()
    ports.make_raw(slave)
    sysdir = tmp_path / "virtio-ports"
    (sysdir / "vport1p1").mkdir(parents=True)
    (sysdir / "vport1p1" / "name").write_text("line1\n")
    devdir = tmp_path / "dev"
    devdir.mkdir()
    os.symlink(os.ttyname(slave), devdir / "vport1p1")
    proc = tmp_path / "serial"

    def set_dtr(high: bool) -> None:
        signals = "RTS|CTS|DTR|DSR|CD" if high else "CTS|DSR|CD"
        proc.write_text(f"serinfo:1.0 driver revision:\n0: uart:16550A port:000003F8 irq:4 "
                        f"tx:0 rx:0 RTS|CTS|DTR|DSR|CD\n1: uart:16550A port:000002F8 irq:3 "
                        f"tx:0 rx:0 {signals}\n")

    set_dtr(True)
    monkeypatch.setattr(ports, "VIRTIO_PORTS", str(sysdir))
    monkeypatch.setattr(ports, "DEV_DIR", str(devdir))
    monkeypatch.setattr(ports, "PROC_SERIAL", str(proc))
    os.set_blocking(master, False)
    yield master, set_dtr
    os.close(master)
    os.close(slave)


def uart_read(master: int, needle: bytes, timeout: float = 5.0) -> bytes:
    got = b""
    deadline = time.monotonic() + timeout
    while needle not in got:
        assert time.monotonic() < deadline, f"{needle!r} not in {got!r}"
        try:
            got += os.read(master, 4096)
        except BlockingIOError:
            time.sleep(0.01)
    return got


def test_uart_modem_talks_through_the_virtio_port_and_reacts_to_real_dtr(make_world, fake_uart):
    master, set_dtr = fake_uart
    world = make_world({"modems": {"A": {"port": "uart", "uart": "ttyS1", "vport": "line1"},
                                   "B": {"number": "2", "profile": "S0=1"}}})
    state = world.state("A")
    assert state["tty"] == "/dev/ttyS1" and state["port"] == "uart" and state["dtr"] is True
    os.write(master, b"AT&D3&W\r")
    assert uart_read(master, b"OK\r\n").endswith(b"AT&D3&W\r\r\nOK\r\n")
    os.write(master, b"ATS0=1D2\r")
    uart_read(master, b"CONNECT 33600\r\n")
    mark = world.mark()
    set_dtr(False)                                   # the driver dropped DTR
    world.wait_event("dtr", source="A", high=False, after=mark, timeout=2)
    world.wait_event("reset", source="A", how="dtr", after=mark)
    world.wait_event("no_carrier", source="B", after=mark)
    assert world.state("A")["s"][0] == 0 and world.state("A")["dtr"] is False
    set_dtr(True)
    world.wait_event("dtr", source="A", high=True, after=mark, timeout=2)


def test_uart_port_with_missing_virtio_port_is_a_clear_error(fake_uart, monkeypatch):
    from pppup_sim import World
    with pytest.raises(PortError, match="no virtio port named 'line7'"):
        World({"modems": {"A": {"port": "uart", "uart": "ttyS1", "vport": "line7"}}}).start()


def test_uart_config_needs_uart_and_vport():
    from pppup_sim import ConfigError, World
    with pytest.raises(ConfigError, match="needs uart"):
        World({"modems": {"A": {"port": "uart"}}})
