"""Compact state containers (processors/state.py): agent timelines as packed arrays, lone
contacts as bare pairs. Same answers as the lists they replaced, and states written before
(lists of pairs, one-entry contact lists) still load and keep counting the same way."""

from __future__ import annotations

import random
import zlib
from array import array

import msgspec

from processors.agents import apply_agent_state, evict_agents, occupancy
from processors.contacts import apply_contact, evict_contacts
from processors.counters import CounterIndex
from processors.panes import PaneStore
from processors.state import Timeline, decode_state, encode_state, new_queue_state

T0 = 1_790_000_000.0
STATES = ("available", "on_call", "wrap_up", "not_ready", "logged_out")


def test_a_timeline_keeps_sorted_unique_changes_whatever_the_arrival_order() -> None:
    rng = random.Random(3)
    changes = {(T0 + rng.randrange(0, 50) / 2, rng.choice(STATES)) for _ in range(200)}
    arrivals = list(changes) * 2  # every change twice: the second is a duplicate
    rng.shuffle(arrivals)
    state = new_queue_state("q")
    fresh = [apply_agent_state(state, "a1", t, s) for t, s in arrivals]
    assert sum(fresh) == len(changes)
    assert state.agents["a1"].pairs() == sorted(changes)


def test_occupancy_and_eviction_on_a_timeline() -> None:
    state = new_queue_state("q")
    for t, s in [
        (T0, "available"),
        (T0 + 10, "on_call"),
        (T0 + 40, "wrap_up"),
        (T0 + 50, "available"),
    ]:
        apply_agent_state(state, "a1", t, s)
    # [T0, T0+60): available 10 + 10, busy 30 + 10.
    assert occupancy(state, int(T0), int(T0) + 59) == 40 / 60
    evict_agents(state, T0 + 45)
    # The last change before the cut is kept: the state at the cut is still known.
    assert state.agents["a1"].pairs() == [(T0 + 40, "wrap_up"), (T0 + 50, "available")]


def test_timelines_and_lone_contacts_round_trip_and_the_earlier_format_still_decodes() -> None:
    state = new_queue_state("q")
    panes = PaneStore(state.panes)
    apply_agent_state(state, "a1", T0, "available")
    apply_agent_state(state, "a1", T0 + 5.5, "on_call")
    apply_contact(state, panes, "cust-1", T0, "e1", 3600.0)
    apply_contact(state, panes, "cust-2", T0 + 1, "e2", 3600.0)
    apply_contact(state, panes, "cust-2", T0 + 2, "e3", 3600.0)
    encoded = encode_state(state)
    plain = msgspec.msgpack.decode(zlib.decompress(encoded[1:]))
    # A timeline is its packed change times (little-endian float64) and its state names.
    times, names = plain["agents"]["a1"]
    assert array("d", times).tolist() == [T0, T0 + 5.5] and names == ["available", "on_call"]
    assert plain["lone_contacts"] == {"cust-1": [T0, "e1"]}
    assert plain["contacts"] == {"cust-2": [[T0 + 1, "e2"], [T0 + 2, "e3"]]}
    again = decode_state(encoded)
    assert isinstance(again.agents["a1"], Timeline)
    assert again.agents == state.agents
    assert again.lone_contacts == {"cust-1": (T0, "e1")}
    assert encode_state(again) == encoded
    # The earlier format: a timeline as a list of (time, state) pairs, panes as lists.
    plain["agents"] = {"a1": [[T0, "available"], [T0 + 5.5, "on_call"]]}
    plain["panes"] = [{}, {}, {}]
    earlier = decode_state(b"Z" + zlib.compress(msgspec.msgpack.encode(plain)))
    assert earlier.agents == state.agents


def test_a_state_written_with_one_contact_lists_counts_repeats_the_same() -> None:
    # Before lone contacts, a customer's single contact was a one-entry list in `contacts`,
    # and a state had no `lone_contacts` key at all.
    old = new_queue_state("q")
    old.contacts = {"cust-1": [(T0, "e1")]}
    raw = msgspec.msgpack.decode(zlib.decompress(encode_state(old)[1:]))
    del raw["lone_contacts"]
    loaded = decode_state(b"Z" + zlib.compress(msgspec.msgpack.encode(raw)))
    assert loaded.contacts == {"cust-1": [(T0, "e1")]} and loaded.lone_contacts == {}

    fresh = new_queue_state("q")
    fresh_panes = PaneStore(fresh.panes)
    apply_contact(fresh, fresh_panes, "cust-1", T0, "e1", 3600.0)
    loaded_panes = PaneStore(loaded.panes)
    for state, panes in ((fresh, fresh_panes), (loaded, loaded_panes)):
        apply_contact(state, panes, "cust-1", T0, "e1", 3600.0)  # a duplicate: no change
        apply_contact(state, panes, "cust-1", T0 + 60, "e2", 3600.0)  # a repeat
    first, last = int(T0), int(T0) + 120
    assert loaded_panes.sum(first, last)[CounterIndex.REPEAT_CONTACTS] == 1
    assert fresh_panes.sum(first, last)[CounterIndex.REPEAT_CONTACTS] == 1
    assert (
        loaded_panes.sum(first, last)[CounterIndex.CONTACTS] == 1
    )  # e2 only: e1 was counted before
    assert loaded.contacts == fresh.contacts


def test_eviction_moves_a_customer_left_with_one_contact_to_a_lone_pair() -> None:
    state = new_queue_state("q")
    panes = PaneStore(state.panes)
    for customer, t, event_id in [("c1", T0, "e1"), ("c1", T0 + 100, "e2"), ("c2", T0, "e3")]:
        apply_contact(state, panes, customer, t, event_id, 3600.0)
    evict_contacts(state, T0 + 50)
    assert state.contacts == {}
    assert state.lone_contacts == {"c1": (T0 + 100, "e2")}
