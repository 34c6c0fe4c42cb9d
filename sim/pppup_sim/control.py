"""The control socket of `python -m pppup_sim`: JSON lines over a Unix stream socket.

One request object per line, one answer object per line (`{"ok": true, ...}`
or `{"ok": false, "error": "..."}`).  The operations mirror World's
accessors; see sim/README.md.  Runs on the simulator's loop.
"""
from __future__ import annotations

import asyncio
import json
import os
from typing import Any, Awaitable, Callable

from .world import World

MAX_REQUEST = 64 * 1024

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class ControlServer:
    def __init__(self, world: World, on_quit: Callable[[], None]) -> None:
        self.world = world
        self.on_quit = on_quit
        self.server: asyncio.AbstractServer | None = None
        self.ops: dict[str, Handler] = {
            "state": self._state, "events": self._events, "wait": self._wait,
            "drop_carrier": self._drop_carrier, "ring": self._ring,
            "set_number": self._set_number, "dtr": self._dtr,
            "turnarounds": self._turnarounds, "dte_log": self._dte_log, "quit": self._quit,
        }

    async def start(self, path: str) -> None:
        if os.path.exists(path):
            os.unlink(path)          # a stale socket from an earlier run
        self.server = await asyncio.start_unix_server(self._client, path, limit=MAX_REQUEST)
        os.chmod(path, 0o600)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    line = await reader.readline()
                except (asyncio.LimitOverrunError, ValueError):
                    await self._answer(writer, {"ok": False, "error": "request over 64 KiB"})
                    return
                if not line:
                    return
                await self._answer(writer, await self._handle(line))
        except ConnectionError:
            return
        finally:
            writer.close()

    @staticmethod
    async def _answer(writer: asyncio.StreamWriter, answer: dict[str, Any]) -> None:
        writer.write(json.dumps(answer).encode() + b"\n")
        await writer.drain()

    async def _handle(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
        except ValueError as error:
            return {"ok": False, "error": f"not JSON: {error}"}
        if not isinstance(request, dict) or not isinstance(request.get("op"), str):
            return {"ok": False, "error": 'a request is an object with "op"'}
        handler = self.ops.get(request["op"])
        if handler is None:
            return {"ok": False, "error": f"unknown op {request['op']!r}; "
                                          f"known: {', '.join(self.ops)}"}
        try:
            return {"ok": True, **await handler(request)}
        except Exception as error:       # reported to the client, the server keeps going
            return {"ok": False, "error": str(error) or repr(error)}

    # ------------------------------------------------------------ operations

    async def _state(self, r: dict[str, Any]) -> dict[str, Any]:
        rt = self.world.runtime
        if r.get("modem") is None:
            return {"modems": {name: unit.state() for name, unit in rt.modems.items()}}
        return {"state": rt.unit(str(r["modem"])).state()}

    async def _events(self, r: dict[str, Any]) -> dict[str, Any]:
        events = self.world.log.select(int(r.get("after", 0)), r.get("kind"), r.get("source"),
                                       **dict(r.get("fields") or {}))
        return {"events": [e.as_dict() for e in events]}

    async def _wait(self, r: dict[str, Any]) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        timeout = float(r.get("timeout", 5.0))
        fields = dict(r.get("fields") or {})
        event = await loop.run_in_executor(
            None, lambda: self.world.log.wait(r.get("kind"), int(r.get("after", 0)), timeout,
                                              r.get("source"), **fields))
        return {"event": event.as_dict()}

    async def _drop_carrier(self, r: dict[str, Any]) -> dict[str, Any]:
        self.world.runtime.drop_carrier(str(r["modem"]))
        return {}

    async def _ring(self, r: dict[str, Any]) -> dict[str, Any]:
        self.world.runtime.ring(str(r["modem"]), str(r.get("caller", "0000")), r.get("host"))
        return {}

    async def _set_number(self, r: dict[str, Any]) -> dict[str, Any]:
        self.world.runtime.set_number(str(r["number"]), dict(r.get("spec") or {}))
        return {}

    async def _dtr(self, r: dict[str, Any]) -> dict[str, Any]:
        self.world.runtime.dtr(str(r["modem"]), bool(r["high"]))
        return {}

    async def _turnarounds(self, r: dict[str, Any]) -> dict[str, Any]:
        pairs = self.world.runtime.unit(str(r["modem"])).port.turnarounds.pairs
        return {"turnarounds": [list(p) for p in pairs]}

    async def _dte_log(self, r: dict[str, Any]) -> dict[str, Any]:
        after = float(r.get("after", 0.0))
        chunks = self.world.runtime.unit(str(r["modem"])).dte_log
        return {"dte_log": [[t, data.decode("latin-1")] for t, data in chunks if t > after]}

    async def _quit(self, r: dict[str, Any]) -> dict[str, Any]:
        self.on_quit()
        return {}
