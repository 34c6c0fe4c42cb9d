"""The per-connection permit table (security.md M5)."""
import pytest

from pppup_protocol.codec import ProtocolError
from pppup_protocol.ops import Op
from pppup_protocol.permits import Permits


def walk(*ops, grant=True):
    permits = Permits()
    for op in ops:
        permits.check(op)
        if grant:
            permits.granted(op)
    return permits


def test_normal_session():
    walk(Op.STATUS, Op.ACQUIRE, Op.HANGUP, Op.HANGUP, Op.START_PPPD, Op.STATUS, Op.RELEASE, Op.STATUS)


def test_pppdown_connection():
    walk(Op.STATUS, Op.STOP)


@pytest.mark.parametrize("ops", [
    (Op.HANGUP,),
    (Op.START_PPPD,),
    (Op.RELEASE,),
    (Op.ACQUIRE, Op.ACQUIRE),
    (Op.ACQUIRE, Op.START_PPPD, Op.START_PPPD),
    (Op.ACQUIRE, Op.START_PPPD, Op.HANGUP),
    (Op.ACQUIRE, Op.RELEASE, Op.RELEASE),
    (Op.ACQUIRE, Op.RELEASE, Op.HANGUP),
    (Op.ACQUIRE, Op.RELEASE, Op.START_PPPD),
    (Op.ACQUIRE, Op.RELEASE, Op.ACQUIRE),
    (Op.ACQUIRE, Op.STOP),
    (Op.STOP, Op.ACQUIRE),
])
def test_refused_sequences(ops):
    permits = Permits()
    for op in ops[:-1]:
        permits.check(op)
        permits.granted(op)
    with pytest.raises(ProtocolError, match="refused"):
        permits.check(ops[-1])


def test_failed_acquire_holds_nothing_and_is_not_retried():
    permits = Permits()
    permits.check(Op.ACQUIRE)          # attempted, but the helper refused it (busy)
    for op in (Op.HANGUP, Op.START_PPPD, Op.RELEASE, Op.ACQUIRE, Op.STOP):
        with pytest.raises(ProtocolError):
            permits.check(op)
    permits.check(Op.STATUS)


def test_lost_line_ends_the_line_ops():
    permits = walk(Op.ACQUIRE)
    permits.lost_line()
    with pytest.raises(ProtocolError):
        permits.check(Op.START_PPPD)
