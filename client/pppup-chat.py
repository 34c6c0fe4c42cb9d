#!/usr/bin/python3.11 -IS
"""pppup-chat launcher, installed as /usr/local/bin/pppup-chat.

pppd starts its connect program for every call, so start-up counts (make
bench-chat, (d)).  pip's console-script wrapper runs the venv's python with
site.py (every .pth file of the venv) and imports `re` before pppup-chat's
first line; this file skips both.  -I ignores PYTHON* variables and the
user's site directory, -S skips site.py: sys.path is the interpreter's
standard library plus pppup's venv, nothing from the caller's environment.
"""
import sys

SITE_PACKAGES = "/usr/local/lib/pppup/venv/lib/python3.11/site-packages"  # paths.VENV + lib/python3.11

sys.path.append(SITE_PACKAGES)      # after the standard library: nothing shadows it

from pppup.chat.cli import main_and_exit  # noqa: E402

main_and_exit()
