"""The built-in list of extra pppd flags a policy may let users ask for.

pppd runs as root here, so it treats every option as privileged: the only
safe way to let users add options is a fixed list of argument-free flags
whose effect stays on their own link.  A rule's `flags` may name only flags
from this list; the user then picks among those the rule names.

Chosen from pppd(8) of Debian's ppp 2.4.9 (tests/policy/test_flags.py checks
that pppd itself accepts each one as an argument-free option).  Left out on
purpose (do not add without a security review):
- anything with an argument (a user string would reach root's pppd);
- persist, demand, maxfail, holdoff, updetach, detach, nodetach: they fight
  pppup's supervision (pppup owns redialling and the process lifetime);
- plugin, file, call, pty, notty, socket, connect, init, disconnect, welcome,
  record, logfile, dump, dryrun: run programs, read or write files as root,
  or replace the line;
- noauth, auth, require-*, login, papcrypt, usehostname, remotename, user,
  name: change who authenticates whom, or which secrets of the system's
  pap/chap-secrets pppd uses (usehostname would send the machine's own
  secret to a server the user chose);
- nolock, lock, modem, local, crtscts, nocrtscts, xonxoff, cdtrcts: the line
  is the admin's (the peer file) and pppup holds the lock;
- proxyarp, ktune, replacedefaultroute, multilink, mp, enable-session,
  show-password, srp-use-pseudonym, up_sdnotify, master_detach: change the
  system outside the link, reveal secrets or join other links.

Two flags change the whole machine, not only the link.  They are allowed
because dial-up users commonly need them, but an admin should grant them only
where that is acceptable, and they are marked "system-wide" in explanations:
- defaultroute: all of the machine's traffic goes through this user's link;
- usepeerdns: the far end's DNS servers (Debian's ip-up.d script writes them
  to /etc/resolv.conf when no resolver manager is installed).
"""
from __future__ import annotations

LINK_FLAGS: dict[str, str] = {
    "debug": "log the protocol exchanges (the supervisor reads them; passwords stay hidden)",
    "noccp": "do not negotiate compression at all",
    "nobsdcomp": "refuse BSD-Compress compression",
    "nodeflate": "refuse Deflate compression",
    "nopredictor1": "refuse Predictor-1 compression",
    "novj": "no Van Jacobson TCP/IP header compression",
    "novjccomp": "no connection-ID compression inside VJ compression",
    "noaccomp": "no address/control field compression",
    "nopcomp": "no protocol field compression",
    "nomagic": "no magic-number negotiation (for buggy peers)",
    "default-asyncmap": "do not negotiate an async control character map",
    "default-mru": "do not negotiate the MRU",
    "passive": "wait for the peer if it does not answer at first",
    "silent": "send nothing until the peer speaks first",
    "noipdefault": "let the peer assign the local IP address",
    "noipv6": "do not negotiate IPv6",
    "lcp-echo-adaptive": "send LCP echo requests only when the link is idle",
    "refuse-pap": "do not authenticate with PAP",
    "refuse-chap": "do not authenticate with CHAP",
    "refuse-mschap": "do not authenticate with MS-CHAP",
    "refuse-mschap-v2": "do not authenticate with MS-CHAPv2",
    "refuse-eap": "do not authenticate with EAP",
    "nodefaultroute": "do not add a default route",
}

SYSTEM_FLAGS: dict[str, str] = {
    "defaultroute": "route all of the machine's traffic through this link (system-wide)",
    "usepeerdns": "use the far end's DNS servers for the whole machine (system-wide)",
}

SAFE_FLAGS: dict[str, str] = {**LINK_FLAGS, **SYSTEM_FLAGS}

# Pairs pppd refuses together (it answers "defaultroute option is disabled").
CONFLICTS: tuple[frozenset[str], ...] = (frozenset({"defaultroute", "nodefaultroute"}),)
