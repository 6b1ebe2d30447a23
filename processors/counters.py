"""The additive quantities every window KPI is built from, as indices into a pane vector.

Each event adds to (and, when a later event corrects an earlier one, subtracts from) a few of
these at one event-time second. A window's KPIs are formulas over the window's sums, so a window
over any span is just a sum of panes: see processors/panes.py and processors/formulas.py.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["WIDTH", "CounterIndex"]


class CounterIndex(IntEnum):
    """The position of each additive counter in a pane vector (``pane[CounterIndex.ENTERED]``).
    Append only: a restored state's panes are read by position."""

    # telephony, arrivals family
    ENTERED = 0
    BLOCKED = 1
    # telephony, exits family (short abandons are kept apart from everything else)
    ANSWERED = 2
    ABANDONED = 3
    SHORT_ABANDONED = 4
    OTHER_EXITS = 5
    ANSWERED_WAIT_SUM = 6
    ABANDONED_WAIT_SUM = 7
    ANSWERED_WITHIN_T = 8
    ABANDONED_WITHIN_T = 9
    # handling
    HANDLED = 10
    HANDLE_TIME_SUM = 11
    # ticketing
    TICKETS_CREATED = 12
    TICKETS_SOLVED = 13
    TICKETS_REOPENED = 14
    FIRST_REPLIES = 15
    FIRST_REPLY_SUM = 16
    # surveys
    CSAT_RESPONSES = 17
    CSAT_GOOD = 18
    NPS_RESPONSES = 19
    NPS_PROMOTERS = 20
    NPS_DETRACTORS = 21
    CES_RESPONSES = 22
    CES_SUM = 23
    # first-contact resolution
    CONTACTS = 24
    REPEAT_CONTACTS = 25
    # telephony, exits family: wait of calls that left for another reason (with the answered
    # and abandoned wait sums, the total time waited by all exits: the patience estimate)
    OTHER_EXITS_WAIT_SUM = 26
    # telephony, exits family: exits of their own kind (processors/callbacks.py)
    CALLBACKS_REQUESTED = 27
    CALLBACK_REQUEST_WAIT_SUM = 28
    FLOW_OUTS = 29
    FLOW_OUT_WAIT_SUM = 30
    # transfers of answered calls, counted at the transfer
    TRANSFERS = 31
    # callbacks after the request: attempts, completions, time to a successful callback
    CALLBACK_ATTEMPTS = 32
    CALLBACKS_COMPLETED = 33
    CALLBACKS_SUCCEEDED = 34
    CALLBACKS_TIMED = 35
    CALLBACK_TIME_SUM = 36
    # self-service (IVR, processors/ivr.py): entries at entry, outcomes and time at the exit
    IVR_ENTERED = 37
    IVR_SELF_SERVED = 38
    IVR_TO_QUEUE = 39
    IVR_ABANDONED = 40
    IVR_ERRORS = 41
    IVR_TIME_SUM = 42


WIDTH = len(CounterIndex)
