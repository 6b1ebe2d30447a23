"""A queue snapshot too large for one Kafka record, written as parts and a manifest.

A busy help desk's queue state is megabytes (30,000 open tickets with random ids encode to
2.9 MB), and Kafka refuses a record over ``max.request.size`` / ``message.max.bytes`` (1 MB by
default): the snapshot's send failed and took the worker down, on every restart (issue 18). So
a snapshot larger than ``PART_BYTES`` is cut into parts, each a record of its own under
``"{partition}/{queue}/s/{generation}.{index}"``, and the snapshot key
(``"{partition}/{queue}/s"``) then holds a small *manifest* naming the generation and the
number of parts, written after them (one changelog partition: Kafka keeps that order). A crash
half-way through leaves the previous manifest and its parts in place: the previous generation's
parts are deleted only once the new manifest is in Kafka (streams/worker/state_store.py). A snapshot
that fits one record is written as before, so nothing changes for the usual queue.
"""

from __future__ import annotations

import re
import uuid

import msgspec

__all__ = [
    "PART_BYTES",
    "Manifest",
    "assemble",
    "new_generation",
    "parse_part_key",
    "part_key",
    "read_manifest",
    "snapshot_values",
]

PART_BYTES = 512 * 1024
"""Bytes of encoded state per part at most (half of Kafka's default record size limit)."""

_MANIFEST = b"ccpulse-snapshot-parts:"
"""What a manifest value starts with (an encoded state starts with its format byte, P or Z)."""
_PART_KEY = re.compile(r"^(\d+)/(.*)/s/([0-9a-f]+)\.(\d+)$", re.DOTALL)


class Manifest(msgspec.Struct, frozen=True, array_like=True):
    generation: str
    parts: int
    size: int


_manifest_decoder = msgspec.msgpack.Decoder(Manifest)


def new_generation() -> str:
    """A generation id no other snapshot of any worker has used."""
    return uuid.uuid4().hex[:16]


def part_key(partition: int, queue: str, generation: str, index: int) -> bytes:
    return f"{partition}/{queue}/s/{generation}.{index}".encode()


def parse_part_key(key: bytes) -> tuple[int, str, str, int] | None:
    """(partition, queue, generation, index) of a part key; None for any other key."""
    match = _PART_KEY.match(key.decode(errors="replace"))
    if match is None:
        return None
    partition, queue, generation, index = match.groups()
    return int(partition), queue, generation, int(index)


def snapshot_values(encoded: bytes, generation: str) -> tuple[list[bytes], bytes]:
    """(the parts, in order; the value of the snapshot key) for an encoded state: no parts and
    the state itself when it fits one record, else the parts and their manifest."""
    if len(encoded) <= PART_BYTES:
        return [], encoded
    parts = [encoded[i : i + PART_BYTES] for i in range(0, len(encoded), PART_BYTES)]
    manifest = Manifest(generation, len(parts), len(encoded))
    return parts, _MANIFEST + msgspec.msgpack.encode(manifest)


def read_manifest(value: bytes) -> Manifest | None:
    """The manifest a snapshot key holds; None when it holds a whole state."""
    if not value.startswith(_MANIFEST):
        return None
    return _manifest_decoder.decode(value[len(_MANIFEST) :])


def assemble(manifest: Manifest, parts: dict[int, bytes]) -> bytes | None:
    """The encoded state from its parts; None if one is missing or the size is wrong."""
    try:
        encoded = b"".join(parts[index] for index in range(manifest.parts))
    except KeyError:
        return None
    return encoded if len(encoded) == manifest.size else None
