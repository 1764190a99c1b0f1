"""The one msgpack encoding of commands and events, and the checksummed frame.

A frame is ``length | crc32 of payload | crc32 of those 8 bytes | payload``
(u32 little-endian each). The header has its own checksum so a damaged length
is recognised as damage rather than taken for a frame cut short. The payload
is a msgpack array of events (all the events of one append, so a
command's events reach the log together or not at all), or in an input journal
(``engine.journal``) of the commands of one append. Decoding errors name
where the bytes came from and msgspec's path inside the record.
"""

import struct
import zlib
from collections.abc import Sequence
from typing import Any

import msgspec

from engine.commands import Journaled
from engine.errors import CorruptLog
from engine.events import AnyEvent

# 2: DeleveragingShare carries one published score; 3: AdlRanksPublished lists each side in order;
# 4: AdlRanksPublished lists bare account ids, the lights following from the place;
# 5: BadDebtWrittenOff and DeficitSettled; the fund pays deficits only;
# 6: MarketSpec.display appended (a listing encoded without it decodes with the default);
# 7: OrderAmended, OrderAccepted.stp, and the AmendOrder and CancelOrder-by-client-id commands a journal holds;
# 8: tiered mutualization: market funds, staked pools and the backstop vault (new events and commands;
#    InsuranceFunded, InsuranceFundPaid, LiquidationFeeCharged and DeficitSettled gain fields, MarketSpec three,
#    FundInsurance one, each appended with a default);
# 9: trigger orders, leverage, isolated margin (new events and commands; the liquidation events,
#    BadDebtWrittenOff and DeficitSettled name an isolated market), CommandRejected.limit, OrderAccepted.trigger_id,
#    MarketSpec leverage tiers and open-interest cap, each appended with a default after 8's
SCHEMA_VERSION = 9
FRAME_HEADER = struct.Struct("<III")
_LENGTH_CRC = struct.Struct("<II")

_encoder = msgspec.msgpack.Encoder()
_events_decoder = msgspec.msgpack.Decoder(list[AnyEvent])
_journal_decoder = msgspec.msgpack.Decoder(list[Journaled])

encode = _encoder.encode


def _decode(decoder: msgspec.msgpack.Decoder, payload: bytes, source: str, where: str) -> list[Any]:
    """The items of one record; an empty batch is corrupt too, since no append ever writes one."""
    try:
        items = decoder.decode(payload)
    except msgspec.DecodeError as exc:
        raise CorruptLog(source, where, str(exc)) from None
    if not items:
        raise CorruptLog(source, where, "empty batch")
    return items


def decode_events(payload: bytes, source: str, where: str) -> list[Any]:
    return _decode(_events_decoder, payload, source, where)


def decode_journal(payload: bytes, source: str, where: str) -> list[Journaled]:
    """The journal entries (``engine.commands.Journaled``) of one record."""
    return _decode(_journal_decoder, payload, source, where)


def frame(items: Sequence[Any]) -> bytes:
    payload = _encoder.encode(items)
    head = _LENGTH_CRC.pack(len(payload), zlib.crc32(payload))
    return head + zlib.crc32(head).to_bytes(4, "little") + payload
