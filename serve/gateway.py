"""A gateway's routing: each command goes to the command stream of the shard that owns its market.

Shards
    A shard is an isolated venue: a set of markets, the collateral and
    margin of the accounts that trade them, one ``perpx serve`` (and its
    standby) with its own streams. The same account id on two shards is two
    accounts: margin is not shared across shards, so a loss on one cannot
    be covered by collateral on another (cross-shard margin is out of scope).
    On Redis Cluster each shard's streams carry its hash tag (``{btc}:commands``,
    ``{btc}:events``), so a shard lives on one node and shards spread over
    the nodes.

Routing
    A command that names a market (an order, ``CancelAll`` of one market, an
    index price, a funding settlement, a listing) goes to the shard that
    owns that market. One that names none (a deposit, a withdrawal, a
    cancel by order id, since order ids are per shard, ``CancelAll`` of every
    market, an insurance payment) goes to the shard the caller names by any
    of its markets: ``send(Deposit(...), market="BTC-PERP")``.
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from engine.commands import ListMarket
from engine.errors import PerpxError
from engine.redislog import connect
from serve.commandstream import CommandWriter


class UnroutableCommand(PerpxError):
    """A command for a market no shard owns, or one that names no market sent without ``market=``."""


def market_of(command: Any) -> str:
    """The market a command names, empty if none."""
    if type(command) is ListMarket:
        return command.spec.symbol
    return getattr(command, "market", "")


class Gateway:
    """Routes commands by market; ``routes`` maps each market to its shard's command stream URL."""

    def __init__(self, routes: Mapping[str, str]) -> None:
        writers: dict[str, CommandWriter] = {}
        for url in set(routes.values()):
            client, stream, _ = connect(url)
            writers[url] = CommandWriter(client, stream)
        self.routes = {market: writers[url] for market, url in routes.items()}
        self.shards = list(writers.values())

    def shard(self, command: Any, market: str = "") -> CommandWriter:
        """The command stream ``command`` goes to (``market``: for a command that names none)."""
        market = market_of(command) or market
        writer = self.routes.get(market)
        if writer is None:
            what = f"no shard owns {market}" if market else "it names no market: say which shard's, market=..."
            raise UnroutableCommand(f"cannot route {type(command).__name__}: {what}")
        return writer

    def send(self, command: Any, market: str = "") -> bytes:
        """Append ``command`` to its shard's command stream; returns its entry id there."""
        return self.shard(command, market).send(command)

    def send_many(self, commands: Iterable[tuple[Any, str]]) -> list[bytes]:
        """Append (command, market) pairs, one round trip per shard, each shard's in the order given;
        returns their entry ids, in the order given."""
        batches: dict[CommandWriter, list[tuple[int, Any]]] = defaultdict(list)
        for i, (command, market) in enumerate(commands):
            batches[self.shard(command, market)].append((i, command))
        ids: dict[int, bytes] = {}
        for writer, batch in batches.items():
            ids.update(zip([i for i, _ in batch], writer.send_many(c for _, c in batch), strict=True))
        return [ids[i] for i in sorted(ids)]

    def close(self) -> None:
        for writer in self.shards:
            writer.client.close()
