"""The whole KPI state of one queue, as plain serialisable data.

One :class:`QueueState` holds everything the engine knows about a queue: its event-time panes,
the calls still in (or just out of) the queue, agent state timelines, open tickets, recent
contacts per customer, the ids of recent events (for de-duplication) and the last source offset
applied per partition (so a batch replayed after a crash is skipped, not counted twice).

It is a msgspec Struct made of builtins and packed arrays, so ``encode_state``/``decode_state``
turn it into compact (zlib-compressed) MessagePack and back exactly: that is what the worker
writes to its Faust table. Packed arrays (panes, agent change times) are stored as their raw
little-endian bytes: one copy each, where encoding them as lists of floats took a Python call
and a list per pane, and made the periodic snapshots the worker's largest timer cost
(docs/performance.md). States written in the earlier list format still decode.
"""

from __future__ import annotations

import sys
import zlib
from array import array
from collections.abc import Iterable
from typing import Any

import msgspec
from msgspec import Struct, field

from processors.drilldown_state import DrillDown
from processors.panes import Pane, chunks_from_seconds, quarter_chunks

__all__ = [
    "CallVisit",
    "Callback",
    "IvrVisit",
    "QueueState",
    "Ticket",
    "Timeline",
    "decode_state",
    "encode_state",
    "new_queue_state",
]

EXIT_NONE, EXIT_ANSWERED, EXIT_ABANDONED, EXIT_OTHER = 0, 1, 2, 3
EXIT_CALLBACK, EXIT_FLOW_OUT = 4, 5
"""A callback request and a transfer while queued: exits of their own kind
(processors/callbacks.py)."""


class CallVisit(Struct, array_like=True, gc=False):
    """One call's visit to the queue. Either end may arrive first."""

    entered_at: float | None = None
    exit_kind: int = EXIT_NONE
    exit_at: float | None = None
    reported_wait: float | None = None
    counted: bool = False
    """True once the exit has been added to the panes (it needs the wait, so the entry or a
    source-reported wait)."""
    channel: str = "voice"
    """The exit event's channel: the exit is counted in it (processors/channels.py)."""


class Callback(Struct, array_like=True, gc=False):
    """One requested callback of the queue (processors/callbacks.py). Either end may arrive
    first."""

    requested_at: float | None = None
    completed_at: float | None = None
    success: bool = False
    timed: bool = False
    """True once its time to callback (completion - request) has been added to the panes: a
    successful completion needs its request for that."""


class IvrVisit(Struct, array_like=True, gc=False):
    """One call's pass through a self-service flow (processors/ivr.py). Either end may arrive
    first."""

    entered_at: float | None = None
    outcome: str | None = None
    exit_at: float | None = None
    reported_seconds: float | None = None
    counted: bool = False
    """True once the exit has been added to the panes (it needs the time in the flow: the
    entry or a source-reported ``ivr_seconds``)."""


class Ticket(Struct, array_like=True, gc=False):
    """What one queue knows about one ticket."""

    first_seen: float
    created_at: float | None = None
    priority: str = "normal"
    due_at: float | None = None
    customer: str | None = None
    statuses: tuple[tuple[float, str], ...] = ()
    """Status changes (event time, status), kept sorted; ``new`` is implied at creation. A
    tuple: most open tickets have none, and then share the empty tuple instead of an empty list
    each (56 bytes, times 100,000 open tickets)."""
    first_reply_at: float | None = None
    first_reply_counted: float | None = None
    """Event time at which this queue counted the first reply (to retract if an earlier
    reply turns up late); None when not counted here."""
    inherited_reply: bool = False
    """The first reply happened in a previous queue: not this queue's to count."""
    arrived_at: float | None = None
    """When it was moved into this queue (None: created here)."""
    left_at: float | None = None
    """When it was moved out of this queue."""


class Timeline:
    """One agent's state changes, sorted by (event time, state): two parallel sequences.

    A packed array of times and a list of (interned) state names take 16 bytes per change;
    the list of ``(time, state)`` tuples it replaced took about 90 (a tuple and a float object
    each), and a large worker holds hundreds of thousands of changes (a day of them per agent,
    for ``today``'s occupancy; docs/performance.md). The state encodes it as that list of
    pairs, so the stored format is unchanged. Changes at the same instant are ordered by state
    name, as the tuples were.
    """

    __slots__ = ("states", "times")

    def __init__(self, changes: Iterable[tuple[float, str]] = ()) -> None:
        self.times: array[float] = array("d")
        self.states: list[str] = []
        for t, name in changes:
            self.times.append(t)
            self.states.append(sys.intern(name))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Timeline):
            return NotImplemented
        return self.times == other.times and self.states == other.states

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Timeline({self.pairs()!r})"

    def pairs(self) -> list[tuple[float, str]]:
        """The changes as ``(time, state)`` pairs, in order."""
        return list(zip(self.times, self.states, strict=True))


class QueueState(Struct, gc=False):
    queue: str
    watermarks: dict[str, float] = field(default_factory=dict)
    """Newest event time applied, per stream family (``telephony``, ``ticketing``). Lateness is
    measured per family: the two arrive on different topics, which Kafka does not order
    relative to each other, so a ticket must not make a telephony event "late"."""
    seen: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per family, the ids of recently applied events and their event times."""
    offsets: dict[str, int] = field(default_factory=dict)
    panes: list[dict[int, Pane]] = field(default_factory=lambda: [{}, {}, {}])
    """Per level, start second -> packed floats (processors/panes.py): chunks of second-level
    detail per minute, minute vectors, quarter-hour vectors; encoded as their bytes."""
    calls: dict[str, CallVisit] = field(default_factory=dict)
    agents: dict[str, Timeline] = field(default_factory=dict)
    """Per agent, the state changes of the retained history (processors/agents.py)."""
    tickets: dict[str, Ticket] = field(default_factory=dict)
    contacts: dict[str, list[tuple[float, str]]] = field(default_factory=dict)
    """Per customer with two or more recent contacts, their (time, event id), sorted (for
    FCR)."""
    lone_contacts: dict[str, tuple[float, str]] = field(default_factory=dict)
    """Per customer with one recent contact, its (time, event id): most customers, so no list
    each (processors/contacts.py)."""
    late: int = 0
    duplicates: int = 0
    ignored: int = 0
    """Events that carried no new fact (a second entry or exit for the same call)."""
    unmatched_exits: int = 0
    lost_calls: int = 0
    callbacks: dict[str, Callback] = field(default_factory=dict)
    """Per call id, the callbacks requested and not yet forgotten (processors/callbacks.py)."""
    lost_callbacks: int = 0
    """Callbacks requested and never completed within ``engine.max_open_callback_seconds``."""
    ivr: dict[str, IvrVisit] = field(default_factory=dict)
    """Per call id, its pass through a self-service flow counted under this queue."""
    evicted_through: float = 0.0
    """Event time up to which stale state was last evicted."""
    drill: DrillDown = field(default_factory=DrillDown)
    """Waiting callers, last abandoned and blocked calls, agents' day (processors/drilldown.py)."""
    channel: str | None = None
    """The one channel of every contact counted so far (None: none yet, or state written before
    channels, all voice); processors/channels.py."""
    channel_panes: dict[str, list[dict[int, Pane]]] = field(
        default_factory=dict, name="channel_quarter_panes"
    )
    """Once a second channel is seen: per channel, the contact counters of its events, panes as
    in ``panes`` but with one chunk per quarter and no minute panes (processors/channels.py).
    Empty while the queue has one channel."""
    channel_minute_panes: dict[str, list[dict[int, Pane]]] = field(
        default_factory=dict, name="channel_panes"
    )
    """State written when a channel's chunks were a minute each: converted as it loads
    (:func:`decode_state`), empty after that."""
    intervals: dict[int, int] = field(default_factory=dict)
    """Per closed 15-minute interval (start second), the fingerprint of its record known to be
    in Kafka (``ccpulse.intervals``, processors/intervals.py): an interval whose record differs
    from it is published (again); after a crash, what was sent and not confirmed is sent again,
    the same key and value."""

    @property
    def watermark(self) -> float | None:
        """The newest event time of any family (the queue's event-time "now")."""
        return max(self.watermarks.values(), default=None)


def new_queue_state(queue: str) -> QueueState:
    return QueueState(queue=queue)


_LITTLE_ENDIAN = sys.byteorder == "little"


def _packed(values: array[float]) -> bytes:
    """The little-endian bytes of a packed float array (the stored form on every machine)."""
    if _LITTLE_ENDIAN:
        return values.tobytes()
    swapped = array("d", values)
    swapped.byteswap()
    return swapped.tobytes()


def _unpacked(data: bytes) -> array[float]:
    values = array("d")
    values.frombytes(data)
    if not _LITTLE_ENDIAN:
        values.byteswap()
    return values


def _encode_hook(obj: Any) -> Any:
    if isinstance(obj, array):
        return _packed(obj)  # a pane: MessagePack bin
    if isinstance(obj, Timeline):
        return [_packed(obj.times), obj.states]
    raise NotImplementedError(f"cannot encode {type(obj).__name__}")


def _decode_hook(kind: type, obj: Any) -> Any:
    if kind is array:
        if isinstance(obj, bytes):
            return _unpacked(obj)
        if isinstance(obj, list):  # the earlier list format
            return array("d", obj)
    if kind is Timeline and isinstance(obj, list):
        if len(obj) == 2 and isinstance(obj[0], bytes):
            timeline = Timeline()
            timeline.times = _unpacked(obj[0])
            timeline.states = [sys.intern(name) for name in obj[1]]
            return timeline
        return Timeline((float(t), name) for t, name in obj)  # the earlier list of pairs
    raise NotImplementedError(f"cannot decode {kind.__name__}")


_encoder = msgspec.msgpack.Encoder(enc_hook=_encode_hook)
_decoder = msgspec.msgpack.Decoder(QueueState, dec_hook=_decode_hook)

# A snapshot is zlib-compressed MessagePack behind a one-byte marker. Pane vectors are mostly
# zeros, so a busy queue's state shrinks ~5x: uncompressed, an hour of per-second panes of a
# busy queue passes 1 MB, Kafka's default maximum message size, and the snapshot could not be
# sent. ``P``: packed arrays as bytes, second-level detail in chunks per minute (the current
# format). ``Z``: the earlier format, packed arrays as lists of floats and second-level detail as
# one dense vector per second. Neither marker can start a plain encoded QueueState (a
# MessagePack map), so snapshots written before compression still decode.
_PACKED = b"P"
_LISTS = b"Z"


def encode_state(state: QueueState) -> bytes:
    return _PACKED + zlib.compress(_encoder.encode(state), 1)


def decode_state(data: bytes) -> QueueState:
    marker = data[:1]
    if marker in (_PACKED, _LISTS):
        data = zlib.decompress(data[1:])
    state = _decoder.decode(data)
    if marker != _PACKED and state.panes:
        # Earlier formats kept second-level detail as one dense vector per second.
        state.panes[0] = chunks_from_seconds(state.panes[0])
    if state.channel_minute_panes:
        state.channel_panes = {
            channel: [quarter_chunks(levels[0]), {}, levels[2]]
            for channel, levels in state.channel_minute_panes.items()
        }
        state.channel_minute_panes = {}
    # MessagePack has no tuples; restore them so comparisons and bisect behave identically.
    state.contacts = {k: [(t, i) for t, i in v] for k, v in state.contacts.items()}
    return state
