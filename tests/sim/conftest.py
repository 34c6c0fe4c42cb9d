"""Fixtures for the simulator's tests: worlds that are always stopped, terminals that are closed."""
from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

from pppup_sim import World

from .helpers import FAST, Dte


@pytest.fixture
def make_world() -> Iterator[Callable[[dict[str, Any]], World]]:
    worlds: list[World] = []

    def make(config: dict[str, Any]) -> World:
        config.setdefault("delays", dict(FAST))
        world = World(config).start()
        worlds.append(world)
        return world

    yield make
    for world in worlds:
        world.stop()


@pytest.fixture
def dte() -> Iterator[Callable[[str], Dte]]:
    opened: list[Dte] = []

    def open_dte(path: str) -> Dte:
        terminal = Dte(path)
        opened.append(terminal)
        return terminal

    yield open_dte
    for terminal in opened:
        terminal.close()
