"""The one msgpack encoding of commands and events, and the checksummed frame.

A frame is ``length (u32 LE) | crc32 of payload (u32 LE) | payload``; the
payload is a msgpack array of events (all the events of one append, so a
command's events reach the log together or not at all). Decoding errors name
where the bytes came from and msgspec's path inside the record.
"""

import struct
import zlib
from collections.abc import Sequence
from typing import Any

import msgspec

from engine.commands import AnyCommand
from engine.errors import CorruptLog
from engine.events import AnyEvent

SCHEMA_VERSION = 1
FRAME_HEADER = struct.Struct("<II")

_encoder = msgspec.msgpack.Encoder()
_events_decoder = msgspec.msgpack.Decoder(list[AnyEvent])
_commands_decoder = msgspec.msgpack.Decoder(list[AnyCommand])

encode = _encoder.encode


def decode_events(payload: bytes, source: str, where: str) -> list[Any]:
    """The events of one record; an empty batch is corrupt too, since no append ever writes one."""
    try:
        events = _events_decoder.decode(payload)
    except msgspec.DecodeError as exc:
        raise CorruptLog(source, where, str(exc)) from None
    if not events:
        raise CorruptLog(source, where, "empty batch")
    return events


def decode_commands(payload: bytes, source: str, where: str) -> list[Any]:
    try:
        return _commands_decoder.decode(payload)
    except msgspec.DecodeError as exc:
        raise CorruptLog(source, where, str(exc)) from None


def frame(items: Sequence[Any]) -> bytes:
    payload = _encoder.encode(items)
    return FRAME_HEADER.pack(len(payload), zlib.crc32(payload)) + payload
