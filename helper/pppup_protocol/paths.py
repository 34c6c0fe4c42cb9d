"""Fixed paths of an installed pppup.

The root side takes every path from here or from the policy, never from the
environment or from a message (attack class E5).  csrc/Makefile passes the
same values to the setuid shim; tests/test_paths.py checks the two agree.
"""

PREFIX = "/usr/local"
LIBDIR = PREFIX + "/lib/pppup"
VENV = LIBDIR + "/venv"
SHIM = LIBDIR + "/pppup-shim"
HELPER_ENTRY = LIBDIR + "/pppup-helper.py"
SUPERVISOR = LIBDIR + "/pppup-supervise"       # a live link's supervisor (csrc/pppup-supervise.c)
PPPD_PLUGIN = LIBDIR + "/pppup-secret.so"
PYTHON = "/usr/bin/python3.11"

CONFIG_DIR = "/etc/pppup"
POLICY = CONFIG_DIR + "/policy.toml"
SYSTEM_ACCOUNTS = CONFIG_DIR + "/accounts"

STATE_DIR = "/run/pppup"
LOCK_DIR = "/var/lock"

PPPD = "/usr/sbin/pppd"
PEERS_DIR = "/etc/ppp/peers"

GROUP = "pppup"
