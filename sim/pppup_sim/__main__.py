"""`python -m pppup_sim WORLD.toml`: run a simulated world until SIGTERM or `quit`.

Prints one JSON line when ready (tty paths, control socket), then serves the
control socket.  Exit status: 0 after a clean shutdown, 3 (Code.CONFIG) for
a bad world description, 6 (Code.LINE) when a port cannot be set up.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import threading

from pppup_protocol.errors import PppupError

from .config import load_config
from .control import ControlServer
from .world import World


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pppup_sim",
                                     description="Run the pppup modem and phone-network simulator.")
    parser.add_argument("world", help="the world description (TOML), see sim/README.md")
    parser.add_argument("--control", help="control socket path (default: the world's `control`, "
                                          "else a fresh private temporary directory)")
    args = parser.parse_args(argv)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    try:
        config = load_config(args.world)
        world = World(config).start()
    except PppupError as error:
        print(f"pppup_sim: {error}", file=sys.stderr)
        return int(error.code)

    private_dir = None
    control_path = args.control or config.control
    if control_path is None:
        private_dir = tempfile.mkdtemp(prefix="pppup-sim.")
        control_path = os.path.join(private_dir, "control.sock")
    control = ControlServer(world, stop.set)
    try:
        asyncio.run_coroutine_threadsafe(control.start(control_path), world.loop).result(10)
        ready = {"ready": True, "pid": os.getpid(), "control": control_path,
                 "modems": {name: {"tty": s["tty"], "number": s["number"], "port": s["port"]}
                            for name, s in world.states().items()}}
        print(json.dumps(ready), flush=True)
        while not stop.wait(1.0):
            pass
    finally:
        try:
            asyncio.run_coroutine_threadsafe(control.close(), world.loop).result(5)
        finally:
            world.stop()
            if os.path.exists(control_path):
                os.unlink(control_path)
            if private_dir is not None:
                os.rmdir(private_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
