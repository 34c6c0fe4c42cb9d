"""Decisions: pure functions of (policy, caller, request, now).  First matching rule wins; default deny."""
from datetime import datetime, timedelta, timezone

import pytest

from pppup_protocol.errors import Code, PppupError
from pppup_helper.policy import Caller

from policy.support import BASE, at, caller

MON, TUE, WED, THU, FRI, SAT, SUN = range(7)

POLICY = BASE + """
[[rules]]
name = "daytime"
users = ["bin"]
groups = ["dialout"]
lines = ["modem1", "modem2"]
peers = ["isp", "work"]
flags = ["debug", "novj", "defaultroute", "nodefaultroute"]
idle = 600
maxconnect = 7200
hours = ["Mon-Fri 08:00-18:00"]
max_links = 1
dial_attempts = 3
dial_seconds = 120

[[rules]]
name = "night"
users = ["bin"]
lines = ["modem1"]
peers = ["isp"]
idle = 300
hours = ["22:00-06:00"]

[[rules]]
name = "always"
groups = ["dip"]
lines = ["modem2"]
peers = ["work"]
"""
# Rule lines in POLICY: BASE is 12 lines, then a blank line.
DAYTIME, NIGHT, ALWAYS = 'rule 1 "daytime" (policy.toml:14)', 'rule 2 "night" (policy.toml:28)', \
    'rule 3 "always" (policy.toml:36)'


@pytest.fixture
def policy(world):
    return world.load(POLICY)


def denied(call) -> PppupError:
    with pytest.raises(PppupError) as info:
        call()
    assert info.value.code == Code.DENIED, info.value
    return info.value


def test_user_rule_grants_with_its_limits(policy):
    grant = policy.grant_line(caller("bin"), "modem1", "work", at(TUE, 9))
    assert grant.rule == DAYTIME and grant.line.name == "modem1" and grant.line.device == "/dev/ttyS1"
    assert grant.peers == {"isp", "work"} and grant.flags == {"debug", "novj", "defaultroute", "nodefaultroute"}
    assert (grant.idle, grant.maxconnect, grant.max_links, grant.dial_attempts, grant.dial_seconds) == \
        (600, 7200, 1, 3, 120)
    assert grant.window_end == at(TUE, 18)


def test_group_membership_grants(policy):
    grant = policy.grant_line(caller("sys", "dialout"), "modem2", "x", at(WED, 12))
    assert grant.rule == DAYTIME


def test_primary_group_counts(policy):
    # The gate puts the gid into groups, but a caller whose only dialout membership is the gid still matches.
    dialout_primary = Caller(uid=5000, gid=20, groups=frozenset(), name="pppt-x")
    assert policy.grant_line(dialout_primary, "modem1", "x", at(WED, 12)).rule == DAYTIME


def test_default_deny(policy):
    error = denied(lambda: policy.grant_line(caller("sys"), "modem1", "x", at(WED, 12)))
    assert "no rule of the policy grants it" in error.message and "pppup-policy explain --user sys" in error.message


def test_dropping_groups_only_loses_rights(policy):
    # I4: membership is only ever a reason to allow.
    with_dip = caller("sys", "dip")
    assert policy.grant_line(with_dip, "modem2", "x", at(SAT, 3)).rule == ALWAYS
    without = with_dip._replace(groups=frozenset())
    denied(lambda: policy.grant_line(without._replace(gid=3), "modem2", "x", at(SAT, 3)))


def test_first_matching_rule_wins_by_time(policy):
    bin_ = caller("bin")
    assert policy.grant_line(bin_, "modem1", "x", at(MON, 9)).rule == DAYTIME
    night = policy.grant_line(bin_, "modem1", "x", at(MON, 23))
    assert night.rule == NIGHT and night.idle == 300 and night.maxconnect is None
    assert night.window_end == at(TUE, 6) and night.max_links is None and night.dial_seconds == 300
    assert policy.grant_line(bin_, "modem1", "x", at(SAT, 2)).rule == NIGHT  # Friday night's window


def test_outside_every_window_names_the_rules_and_hours(policy):
    error = denied(lambda: policy.grant_line(caller("bin"), "modem1", "x", at(SAT, 12)))
    assert "Sat 2024-05-11 12:00" in error.message
    assert DAYTIME + ": Mon-Fri 08:00-18:00" in error.message and NIGHT + ": 22:00-06:00" in error.message


def test_unknown_line(policy):
    error = denied(lambda: policy.grant_line(caller("bin"), "modem9", "x", at(MON, 9)))
    assert "no line 'modem9'" in error.message and "modem1, modem2" in error.message


def test_line_not_granted_lists_the_granted_ones(policy):
    error = denied(lambda: policy.grant_line(caller("sys", "dip"), "modem1", "x", at(MON, 9)))
    assert "lines granted to you: modem2" in error.message


def test_grant_pppd_checks_peer_and_flags(policy):
    bin_ = caller("bin")
    grant = policy.grant_pppd(bin_, "modem1", "work", ["novj", "debug", "novj"], at(MON, 9))
    assert grant.peer.name == "work" and grant.flags == ("novj", "debug") and grant.rule == DAYTIME
    assert grant.idle == 600 and grant.maxconnect == 7200
    error = denied(lambda: policy.grant_pppd(bin_, "modem1", "work", ["usepeerdns"], at(MON, 9)))
    assert "does not allow pppd flag 'usepeerdns'" in error.message and DAYTIME in error.message
    error = denied(lambda: policy.grant_pppd(bin_, "modem1", "isp", ["persist"], at(MON, 9)))
    assert "not one pppup lets users add" in error.message
    error = denied(lambda: policy.grant_pppd(bin_, "modem1", "isp", ["plugin"], at(MON, 9)))
    with pytest.raises(PppupError) as info:
        policy.grant_pppd(bin_, "modem1", "isp", ["defaultroute", "nodefaultroute"], at(MON, 9))
    assert info.value.code == Code.USAGE and "contradict" in info.value.message


def test_grant_pppd_peer_selects_among_rules(policy):
    bin_ = caller("bin")
    # At night only rule 2 (peer isp) applies; peer work is denied, naming what is allowed.
    assert policy.grant_pppd(bin_, "modem1", "isp", [], at(TUE, 23)).rule == NIGHT
    error = denied(lambda: policy.grant_pppd(bin_, "modem1", "work", [], at(TUE, 23)))
    assert "allowed only at these hours" in error.message and DAYTIME in error.message
    error = denied(lambda: policy.grant_pppd(caller("sys", "dip"), "modem2", "isp", [], at(TUE, 23)))
    assert "allow only peers work" in error.message
    error = denied(lambda: policy.grant_pppd(bin_, "modem1", "nosuch", [], at(TUE, 9)))
    assert "no peer 'nosuch'" in error.message


def test_maxconnect_clipped_to_the_window(policy):
    bin_ = caller("bin")
    # 17:30 with maxconnect 7200: the window ends at 18:00, so 1800 s.
    assert policy.grant_pppd(bin_, "modem1", "isp", [], at(WED, 17, 30)).maxconnect == 1800
    assert policy.grant_pppd(bin_, "modem1", "isp", [], at(WED, 10)).maxconnect == 7200
    # 17:59:59.5: never below 1 s.
    nearly = at(WED, 17, 59, 59).replace(microsecond=500000)
    assert policy.grant_pppd(bin_, "modem1", "isp", [], nearly).maxconnect == 1
    # Rule without maxconnect: the window end alone (night rule, 23:00 → 06:00 = 7 h).
    night = policy.grant_pppd(bin_, "modem1", "isp", [], at(WED, 23))
    assert night.maxconnect == 7 * 3600 and night.window_end == at(THU, 6)
    # No hours and no maxconnect: nothing to clip.
    assert policy.grant_pppd(caller("sys", "dip"), "modem2", "work", [], at(WED, 23)).maxconnect is None


def test_clip_counts_real_seconds_across_a_zone_change():
    # Europe/Berlin: 2024-03-31 02:00 CET jumps to 03:00 CEST.  From 01:00 to 06:00 is 4 real hours.
    from zoneinfo import ZoneInfo
    from pppup_helper.policy_hours import Hours
    from pppup_helper.policy_model import Policy, Principals, Rule, LineConfig, PeerConfig
    zone = ZoneInfo("Europe/Berlin")
    rule = Rule(1, None, Principals(users=frozenset({2})), ("m",), ("p",), (), None, None,
                Hours.parse(("22:00-06:00",)), None, None, 300)
    line = LineConfig("m", "/dev/ttyS1", None, False, 1.0, None, Principals())
    policy = Policy("/x/policy.toml", {"m": line}, {"p": PeerConfig("p")}, [rule])
    grant = policy.grant_pppd(caller("bin"), "m", "p", [], datetime(2024, 3, 31, 1, 0, tzinfo=zone))
    assert grant.maxconnect == 4 * 3600


def test_max_links(policy):
    grant = policy.grant_line(caller("bin"), "modem1", "x", at(MON, 9))
    grant.check_link_count(0)
    with pytest.raises(PppupError) as info:
        grant.check_link_count(1)
    assert info.value.code == Code.DENIED and "at most 1" in info.value.message and DAYTIME in info.value.message
    unlimited = policy.grant_line(caller("bin"), "modem1", "x", at(MON, 23))
    unlimited.check_link_count(50)


def test_may_stop_and_is_admin(policy):
    owner = caller("bin")
    assert policy.may_stop(owner, "modem1", owner.uid)
    assert not policy.may_stop(caller("sys"), "modem1", owner.uid)
    assert policy.may_stop(caller("daemon"), "modem1", owner.uid)            # admin_users
    assert policy.may_stop(caller("sys", "adm"), "modem1", owner.uid)        # admin_groups
    assert not policy.may_stop(caller("daemon"), "modem2", owner.uid)        # admin of modem1 only
    assert policy.may_stop(caller("root"), "modem2", owner.uid)
    assert not policy.may_stop(caller("daemon"), "gone", owner.uid)          # line removed from the policy
    assert policy.may_stop(owner, "gone", owner.uid)                         # the owner always may
    assert policy.is_admin(caller("daemon")) and policy.is_admin(caller("sys", "adm"))
    assert not policy.is_admin(caller("bin")) and policy.is_admin(caller("root"))


def test_owner_compare_is_integer_equality(policy):
    # I5: uid 100 is not a prefix match of 1000 or 10000.
    for uid, owner in ((100, 1000), (1000, 100), (1000, 10000)):
        stranger = Caller(uid=uid, gid=uid, groups=frozenset({uid}), name=f"u{uid}")
        assert not policy.may_stop(stranger, "modem2", owner)


def test_exhaustive_week_for_every_caller(policy):
    """Each hour of a week, for several callers and both lines: the decision equals a
    direct reading of the three rules."""
    callers = [caller("bin"), caller("sys"), caller("sys", "dialout"), caller("sys", "dip"),
               caller("daemon", "dialout", "dip")]
    for hour in range(7 * 24):
        now = at(MON, 0) + timedelta(hours=hour, minutes=30)
        weekday, clock = now.weekday(), now.hour
        for who in callers:
            groups = who.groups | {who.gid}
            daytime = (who.name == "bin" or 20 in groups) and weekday < 5 and 8 <= clock < 18
            night = who.name == "bin" and (clock >= 22 or clock < 6)
            always = 30 in groups
            expected = {"modem1": DAYTIME if daytime else NIGHT if night else None,
                        "modem2": DAYTIME if daytime else ALWAYS if always else None}
            for line, rule in expected.items():
                try:
                    got = policy.grant_line(who, line, "x", now).rule
                except PppupError as error:
                    assert error.code == Code.DENIED
                    got = None
                assert got == rule, (who.name, who.groups, line, now)
