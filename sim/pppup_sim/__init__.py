"""pppup_sim: Hayes modems on ptys/UARTs, a phone network and scripted remote hosts.

A test and demo tool (see sim/README.md); nothing in client/ or helper/ imports it.
"""
from .config import ConfigError, WorldConfig, load_config, parse_config
from .events import Event
from .world import World

__all__ = ["ConfigError", "Event", "World", "WorldConfig", "load_config", "parse_config"]
