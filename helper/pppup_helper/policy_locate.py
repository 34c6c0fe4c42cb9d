"""The TOML key locator, now shared with the client: see pppup_protocol.tomlpos.

Kept under this name so the policy modules and their tests import it as before.
"""
from pppup_protocol.tomlpos import Path, line_of, locate

__all__ = ["Path", "line_of", "locate"]
