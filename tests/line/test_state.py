"""Session state files: atomic, root-only, strictly parsed (Z4, A4, X2)."""
import json
import os
import stat
import subprocess
import time

import pytest
from hypothesis import given, settings, strategies as st

from pppup_protocol.errors import Code, PppupError
from pppup_helper import procinfo, state
from pppup_helper.state import EndRecord, SessionRecord, StateDir


def session(**over) -> SessionRecord:
    base = dict(line="modem1", owner_uid=1000, user="alice", account="work", phase="dialling",
                supervisor_pid=os.getpid(), supervisor_start=procinfo.start_time(os.getpid()),
                since=1_700_000_000, device="/dev/ttyS1", lock_names=("LCK..ttyS1", "LK.000.004.065"))
    base.update(over)
    return SessionRecord(**base)


@pytest.fixture
def sd(tmp_path):
    d = StateDir(str(tmp_path / "pppup"))
    yield d
    d.close()


def test_directories_are_created_root_0700(sd, tmp_path):
    for p in (tmp_path / "pppup", tmp_path / "pppup" / "lines"):
        st_ = os.lstat(p)
        assert stat.S_ISDIR(st_.st_mode) and stat.S_IMODE(st_.st_mode) == 0o700 and st_.st_uid == 0


def test_state_dir_that_is_a_symlink_or_foreign_is_refused(tmp_path):
    real = tmp_path / "elsewhere"
    real.mkdir()
    os.symlink(real, tmp_path / "pppup")
    with pytest.raises(PppupError):
        StateDir(str(tmp_path / "pppup"))
    os.unlink(tmp_path / "pppup")
    (tmp_path / "pppup").mkdir()
    os.chown(tmp_path / "pppup", 65534, 65534)
    with pytest.raises(PppupError):
        StateDir(str(tmp_path / "pppup"))


def test_loosened_mode_is_restored(tmp_path):
    (tmp_path / "pppup").mkdir(mode=0o755)
    os.chmod(tmp_path / "pppup", 0o755)
    StateDir(str(tmp_path / "pppup")).close()
    assert stat.S_IMODE(os.lstat(tmp_path / "pppup").st_mode) == 0o700


def test_session_round_trip_and_file_is_0600(sd, tmp_path):
    rec = session(phase="up", pppd_pid=4242, pppd_start=99, link_start=1_700_000_100, ifname="ppp0",
                  local_ip="10.0.0.2", remote_ip="10.0.0.1", peer="isp")
    sd.write_session(rec)
    assert sd.read_session("modem1") == rec
    path = tmp_path / "pppup" / "lines" / "modem1.json"
    assert stat.S_IMODE(os.lstat(path).st_mode) == 0o600
    assert os.listdir(tmp_path / "pppup" / "lines") == ["modem1.json"]   # no temp left
    sd.remove_session("modem1")
    sd.remove_session("modem1")
    assert sd.read_session("modem1") is None


def _lines(tmp_path) -> list[str]:
    return sorted(os.listdir(tmp_path / "pppup" / "lines"))


def test_an_invalid_record_is_discarded_a_valid_or_absent_one_is_not(sd, tmp_path):
    path = tmp_path / "pppup" / "lines" / "modem1.json"
    assert sd.discard_invalid_session("modem1") is False                # nothing there
    sd.write_session(session())
    assert sd.discard_invalid_session("modem1") is False                # valid: kept
    assert sd.read_session("modem1") == session()
    path.write_text("{not json")
    assert sd.discard_invalid_session("modem1") is True
    assert _lines(tmp_path) == []
    os.symlink("/etc/passwd", path)                                      # a link is no record either
    assert sd.discard_invalid_session("modem1") is True
    assert _lines(tmp_path) == [] and os.path.exists("/etc/passwd")


def test_a_record_written_after_the_invalid_one_was_judged_survives(sd, tmp_path, monkeypatch):
    # The race the 1,000-trial run found: a loser's helper judged the line's
    # record unreadable (it was not there yet), the winner's helper then wrote
    # its record, and the loser removed the winner's.  Here the winner writes
    # between the judgment and the removal.
    (tmp_path / "pppup" / "lines" / "modem1.json").write_text("{corrupt")
    winner = session(user="bob", owner_uid=1001)
    judge = StateDir._judge
    calls = []

    def judge_then_the_winner_writes(self, name, record_type):
        result = judge(self, name, record_type)
        if not calls:
            sd.write_session(winner)
        calls.append(name)
        return result

    monkeypatch.setattr(StateDir, "_judge", judge_then_the_winner_writes)
    assert sd.discard_invalid_session("modem1") is False
    monkeypatch.undo()
    assert sd.read_session("modem1") == winner
    assert _lines(tmp_path) == ["modem1.json"]                          # nothing moved aside is left


def test_a_record_replaced_while_it_is_read_reads_as_the_new_one(sd, monkeypatch):
    """The supervisor renames its "stopping" record over the "up" one while
    pppdown polls it: the old inode pppdown opened has no link any more.  That
    is the new record, not an invalid one (pppdown once took it for "no record"
    and reported the end before the supervisor had written it)."""
    sd.write_session(session(phase="up"))
    real_fstat, calls = os.fstat, []

    def fstat_after_the_supervisor_rewrote_it(fd):
        calls.append(fd)
        if len(calls) == 1:
            sd.write_session(session(phase="stopping"))
        return real_fstat(fd)

    monkeypatch.setattr(os, "fstat", fstat_after_the_supervisor_rewrote_it)
    assert sd.read_session("modem1") == session(phase="stopping")
    assert len(calls) == 2
    calls.clear()
    sd.write_session(session(phase="up"))

    def fstat_after_it_was_removed(fd):
        calls.append(fd)
        sd.remove_session("modem1")
        return real_fstat(fd)

    monkeypatch.setattr(os, "fstat", fstat_after_it_was_removed)
    assert sd.read_session("modem1") is None and len(calls) == 1
    monkeypatch.undo()
    sd.write_session(session(phase="up"))
    assert sd.discard_invalid_session("modem1") is False


def test_a_dead_record_is_removed_only_while_it_is_still_the_one(sd, tmp_path):
    dead = session(supervisor_pid=2, supervisor_start=1)
    sd.write_session(dead)
    assert sd.remove_session_if("modem1", dead) is True
    assert _lines(tmp_path) == []
    sd.write_session(dead)
    fresh = session(user="bob", owner_uid=1001)
    sd.write_session(fresh)                     # a new owner took the line meanwhile
    assert sd.remove_session_if("modem1", dead) is False
    assert sd.read_session("modem1") == fresh
    assert _lines(tmp_path) == ["modem1.json"]
    assert sd.remove_session_if("modem2", dead) is False      # nothing there


def test_end_record_round_trip(sd):
    end = EndRecord(line="modem1", owner_uid=1000, user="alice", account="work", reason="idle timeout",
                    exit_status=12, started=1, ended=61, duration=60, bytes_sent=10, bytes_received=20,
                    peer="isp")
    sd.write_end(end)
    assert sd.read_end("modem1") == end


def test_encode_refuses_to_write_an_invalid_record(sd):
    with pytest.raises(Exception):
        sd.write_session(session(supervisor_pid=0))
    with pytest.raises(Exception):
        sd.write_session(session(phase="hacked"))


def _raw(sd: StateDir, data: bytes, name: str = "modem1.json") -> None:
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600, dir_fd=sd.lines_fd)
    os.write(fd, data)
    os.close(fd)


def valid_dict() -> dict:
    return json.loads(state.encode(session()))


@pytest.mark.parametrize("mutate", [
    lambda d: d.pop("owner_uid"),
    lambda d: d.update(owner_uid=-1), lambda d: d.update(owner_uid=True), lambda d: d.update(owner_uid="0"),
    lambda d: d.update(owner_uid=2**32), lambda d: d.update(supervisor_pid=0),
    lambda d: d.update(supervisor_pid=1), lambda d: d.update(supervisor_pid=-1),
    lambda d: d.update(supervisor_pid=None), lambda d: d.update(pppd_pid=0),
    lambda d: d.update(phase="UP"), lambda d: d.update(line="../etc"),
    lambda d: d.update(ifname="ppp0; rm -rf /"), lambda d: d.update(local_ip="10.0.0.256"),
    lambda d: d.update(user="a\nb"), lambda d: d.update(extra=1),
    lambda d: d.update(lock_names=["../../etc/passwd"]), lambda d: d.update(device="ttyS1"),
])
def test_wrong_fields_mean_no_session(sd, mutate):
    d = valid_dict()
    mutate(d)
    _raw(sd, json.dumps(d).encode())
    assert sd.read_session("modem1") is None


@pytest.mark.parametrize("data", [
    b"", b"{", b"null", b"[]", b"\x00" * 100, b"garbage", "{\"user\": \"\u00e9\"}".encode(),
    b'{"supervisor_pid": NaN}', b'{"a": 1e400}', b'{"owner_uid": 1.0}',
    b'{"owner_uid": ' + b"9" * 5000 + b"}",
    b"[" * 100000 + b"]" * 100000,
])
def test_garbage_truncated_or_hostile_json_means_no_session(sd, data):
    _raw(sd, data)
    assert sd.read_session("modem1") is None


def test_truncated_valid_record_means_no_session(sd):
    raw = state.encode(session())
    for cut in (1, len(raw) // 2, len(raw) - 3):
        _raw(sd, raw[:cut])
        assert sd.read_session("modem1") is None


def test_duplicate_keys_mean_no_session(sd):
    raw = state.encode(session()).decode()
    _raw(sd, raw.replace('{"account"', '{"owner_uid": 0, "account"', 1).encode())
    assert sd.read_session("modem1") is None


def test_huge_file_means_no_session_and_is_not_read_whole(sd):
    fd = os.open("modem1.json", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=sd.lines_fd)
    os.ftruncate(fd, 10 * 1024 * 1024)
    os.close(fd)
    assert sd.read_session("modem1") is None


def test_foreign_owned_linked_or_symlinked_record_means_no_session(sd, tmp_path):
    raw = state.encode(session())
    _raw(sd, raw)
    os.fchown(os.open("modem1.json", os.O_RDONLY, dir_fd=sd.lines_fd), 65534, 65534)
    assert sd.read_session("modem1") is None
    os.unlink("modem1.json", dir_fd=sd.lines_fd)
    other = tmp_path / "other.json"
    other.write_bytes(raw)
    os.symlink(other, "modem1.json", dir_fd=sd.lines_fd)
    assert sd.read_session("modem1") is None
    os.unlink("modem1.json", dir_fd=sd.lines_fd)
    os.link(other, "modem1.json", dst_dir_fd=sd.lines_fd)
    assert sd.read_session("modem1") is None


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_fuzzed_bytes_never_crash_and_never_yield_uid_or_pid_zero(data):
    try:
        rec = state.decode(data, SessionRecord)
    except state._Invalid:
        return
    assert rec.supervisor_pid > 1


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(list(valid_dict())),
                       st.one_of(st.none(), st.integers(-2, 2**33), st.text(max_size=20), st.booleans()),
                       max_size=8))
def test_fuzzed_field_values_validate_or_refuse(over):
    d = valid_dict()
    d.update(over)
    try:
        rec = state.decode(json.dumps(d).encode(), SessionRecord)
    except state._Invalid:
        return
    assert type(rec.owner_uid) is int and rec.owner_uid >= 0 and rec.supervisor_pid > 1
    assert rec.pppd_pid is None or rec.pppd_pid > 1


def test_bad_line_names_are_refused(sd):
    for bad in ("../x", "", "A", "a/b", "x" * 40):
        with pytest.raises(PppupError):
            sd.read_session(bad)


def test_full_run_refuses_cleanly_and_keeps_the_old_record(tmp_path):
    d = tmp_path / "tiny"
    d.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12k,nr_inodes=8", "tmpfs", str(d)]).returncode:
        pytest.skip("cannot mount tmpfs")
    try:
        sd = StateDir(str(d / "pppup"))
        sd.write_session(session())
        i = 0
        while True:
            try:
                with open(d / f"fill{i}", "wb") as f:
                    f.write(b"x" * 4096)
            except OSError:
                break
            i += 1
        with pytest.raises(PppupError) as e:
            sd.write_session(session(phase="up", pppd_pid=4242, pppd_start=1, link_start=5,
                                     ifname="ppp0", local_ip="10.0.0.2", remote_ip="10.0.0.1",
                                     peer="a-rather-long-peer-name-to-need-more-room" * 3))
        assert e.value.code == Code.LINE
        assert sd.read_session("modem1") == session()
        assert os.listdir(d / "pppup" / "lines") == ["modem1.json"]
        sd.close()
    finally:
        subprocess.run(["umount", str(d)], check=True)


# ------------------------------------------------------------------ procinfo
def test_start_time_parses_after_the_last_paren_even_with_a_hostile_comm(tmp_path):
    evil = tmp_path / "a) R 1 1 1 1 (x"
    os.symlink("/bin/sleep", evil)
    p = subprocess.Popen([str(evil), "30"])
    try:
        f = procinfo.facts(p.pid)
        assert f is not None and f.ppid == os.getpid() and f.real_uid == 0
        assert f.start_time == procinfo.start_time(p.pid) > 0
        assert procinfo.is_same_process(p.pid, f.start_time)
        assert not procinfo.is_same_process(p.pid, f.start_time + 1)
        p.kill()
        deadline = time.monotonic() + 5
        while procinfo.stat_fields(p.pid)[0] != "Z":      # killed, not yet reaped: a zombie
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert procinfo.start_time(p.pid) == f.start_time
        assert not procinfo.is_same_process(p.pid, f.start_time)
    finally:
        p.kill()
        p.wait()
    assert procinfo.facts(p.pid) is None
    assert not procinfo.is_same_process(p.pid, f.start_time)


@pytest.mark.parametrize("pid", [0, 1, -1, None, 2**40, "12"])
def test_procinfo_refuses_special_pids(pid):
    assert procinfo.facts(pid) is None if pid is not None else True
    assert not procinfo.is_same_process(pid, 5)
    assert procinfo.open_pidfd(pid) is None if type(pid) is int else True


def test_status_counts_the_links_bytes_from_ip_up_as_pppd_does(monkeypatch):
    # The interface's counters also hold the IPCP negotiation; pppd's end
    # count (what pppdown reports) starts at IP up, and so must status's.
    from pppup_helper import links
    monkeypatch.setattr(links, "interface_counters",
                        lambda ifname: {"bytes_sent": 282, "bytes_received": 300} if ifname == "ppp0" else {})
    up = session(phase="up", ifname="ppp0", base_sent=30, base_received=48)
    assert links._since_ip_up(up) == {"bytes_sent": 252, "bytes_received": 252}
    # A record from before the field existed, or counters that restarted.
    assert links._since_ip_up(up._replace(base_sent=None)) == {"bytes_sent": 282, "bytes_received": 252}
    assert links._since_ip_up(up._replace(base_received=10**6))["bytes_received"] == 0


def test_counter_bases_round_trip_and_are_validated(sd):
    rec = session(phase="up", ifname="ppp0", base_sent=30, base_received=48)
    sd.write_session(rec)
    assert sd.read_session("modem1") == rec
    with pytest.raises(state._Invalid):
        state.decode(state.encode(session()).replace(b'"base_sent": null', b'"base_sent": -1'), SessionRecord)
