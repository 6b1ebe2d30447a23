"""Source mappings, vendor signatures and the file follower (unit tests: no broker, no server)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from processors.events import (
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallCallbackAttempted,
    CallCallbackCompleted,
    CallCallbackRequested,
    CallEnded,
    CallEntered,
    CallExited,
    CallTransferred,
    SurveyResponse,
    TicketCreated,
    TicketMoved,
    TicketReopened,
    TicketReplied,
    TicketSolved,
    TicketStatusChanged,
)
from streams.cli import main
from streams.ingest.follower import FileFollower
from streams.ingest.position import load_position, save_position
from streams.ingest.signatures import (
    twilio_signature,
    verify_jira,
    verify_twilio,
    verify_zendesk,
    zendesk_signature,
)
from streams.sources.asterisk import QueueLogMapper, read_queue_log
from streams.sources.jira import map_jira
from streams.sources.payloads import Unmappable
from streams.sources.problems import ParseProblem
from streams.sources.settings import JiraSourceConfig, TwilioSourceConfig, ZendeskSourceConfig
from streams.sources.twilio import map_taskrouter
from streams.sources.zendesk import map_zendesk
from tests import webhook_payloads as wp

T0 = 1795341600  # 2026-11-22T10:00:00Z

# --- signatures --------------------------------------------------------------------------------


def test_twilio_signature_matches_twilios_documented_example() -> None:
    # The example of Twilio's "Validating requests" page: this URL, these parameters, auth
    # token 12345 give the signature 0/KCTR6DLpKmkAf8muzZqo1nDgQ=.
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    assert twilio_signature("12345", url, params.items()) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert verify_twilio("12345", url, params.items(), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    tampered = {**params, "Digits": "1235"}
    assert not verify_twilio("12345", url, tampered.items(), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    assert not verify_twilio("54321", url, params.items(), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    assert not verify_twilio("12345", url, params.items(), None)
    # Twilio's libraries accept the URL with the scheme's default port added.
    with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2"
    assert verify_twilio("12345", with_port, params.items(), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")


def test_zendesk_signature_is_base64_hmac_sha256_of_timestamp_and_body() -> None:
    import base64
    import hashlib
    import hmac

    body = b'{"type":"zen:event-type:ticket.created"}'
    stamp = "2026-11-22T10:00:00Z"
    expected = base64.b64encode(
        hmac.new(b"secret", stamp.encode() + body, hashlib.sha256).digest()
    ).decode()
    assert zendesk_signature("secret", stamp, body) == expected
    assert verify_zendesk("secret", stamp, body, expected)
    assert not verify_zendesk("secret", stamp, body + b" ", expected)
    assert not verify_zendesk("secret", "2026-11-22T10:00:01Z", body, expected)
    assert not verify_zendesk("other", stamp, body, expected)
    assert not verify_zendesk("secret", None, body, expected)


def test_jira_accepts_the_hub_signature_or_the_token() -> None:
    body = b'{"webhookEvent":"jira:issue_created"}'
    headers = wp.jira_headers(body)
    assert headers["X-Hub-Signature"].startswith("sha256=")
    assert verify_jira(wp.JIRA_SECRET, None, body, headers["X-Hub-Signature"], None)
    assert not verify_jira(wp.JIRA_SECRET, None, body + b"x", headers["X-Hub-Signature"], None)
    assert not verify_jira(wp.JIRA_SECRET, None, body, "sha1=" + "0" * 40, None)
    assert verify_jira(None, "tok", body, None, "tok")
    assert not verify_jira(None, "tok", body, None, "tak")
    assert not verify_jira(None, None, body, None, None)


# --- Twilio ------------------------------------------------------------------------------------


def test_taskrouter_task_lifecycle_maps_to_call_events() -> None:
    config = TwilioSourceConfig(queue_map={"Support EN": "support"})
    entered = wp.taskrouter(
        "task-queue.entered", T0, "EV1", **wp.task_fields("WT1", "Support EN", T0)
    )
    created = wp.taskrouter("task.created", T0, "EV0", **wp.task_fields("WT1", "Support EN"))
    accepted = wp.taskrouter(
        "reservation.accepted",
        T0 + 14,
        "EV2",
        **wp.task_fields("WT1", "Support EN", T0),
        WorkerSid="WK1",
        WorkerName="alice",
        ReservationSid="WR1",
    )
    (enter,) = map_taskrouter(entered, config)  # type: ignore[misc]
    (create,) = map_taskrouter(created, config)  # type: ignore[misc]
    assert isinstance(enter, CallEntered) and enter.queue == "support"
    assert (enter.call_id, enter.customer) == ("WT1", "+15555550100")
    assert create.id == enter.id  # one entry, whichever callback tells it: a duplicate
    (answer,) = map_taskrouter(accepted, config)  # type: ignore[misc]
    assert isinstance(answer, CallAnswered)
    assert (answer.agent, answer.wait_seconds) == ("alice", 14.0)


@pytest.mark.parametrize(
    ("unique_name", "channel"),
    [
        (None, "voice"),
        ("voice", "voice"),
        ("chat", "chat"),
        ("sms", "sms"),
        ("default", "voice"),  # Twilio's catch-all channel (channel_map's default)
        ("WhatsApp Business", "whatsapp_business"),  # lower-cased, reduced to a label value
        ("2way", "c_2way"),
    ],
)
def test_taskrouter_tasks_carry_their_channel(unique_name: str | None, channel: str) -> None:
    extra = {} if unique_name is None else {"TaskChannelUniqueName": unique_name}
    fields = {**wp.task_fields("WT9", "support", T0), **extra}
    entered = wp.taskrouter("task-queue.entered", T0, "EV1", **fields)
    canceled = wp.taskrouter("task.canceled", T0 + 9, "EV2", **fields, TaskCanceledReason="x")
    accepted = wp.taskrouter("reservation.accepted", T0 + 3, "EV3", **fields, WorkerName="bo")
    for params in (entered, canceled, accepted):
        (event,) = map_taskrouter(params, TwilioSourceConfig())  # type: ignore[misc]
        assert event.channel == channel, params  # type: ignore[union-attr]
    renamed = TwilioSourceConfig(channel_map={"sms": "messaging"})
    sms = wp.taskrouter(
        "task-queue.entered", T0, "EV4", **{**fields, "TaskChannelUniqueName": "sms"}
    )
    (event,) = map_taskrouter(sms, renamed)  # type: ignore[misc]
    assert event.channel == "messaging"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("reason", "kind"),
    [("hangup", CallAbandoned), ("Task TTL Exceeded", CallExited), ("", CallAbandoned)],
)
def test_taskrouter_cancel_is_an_abandon_or_a_timeout(reason: str, kind: type) -> None:
    params = wp.taskrouter(
        "task.canceled", T0, "EV3", **wp.task_fields("WT2", "support"), TaskCanceledReason=reason
    )
    (event,) = map_taskrouter(params, TwilioSourceConfig())  # type: ignore[misc]
    assert isinstance(event, kind) and event.call_id == "WT2"


def test_taskrouter_transfer_completed_is_an_agents_transfer_to_the_named_queue() -> None:
    # Twilio's task.transfer-* callbacks carry TransferSid, TransferMode (WARM/COLD),
    # TransferType (QUEUE/WORKER) and TransferTo (the TaskQueue or Worker SID).
    sales_sid = "WQ" + "5" * 32
    config = TwilioSourceConfig(queue_map={sales_sid: "sales"})
    transfer = {"TransferSid": "TT1", "TransferMode": "COLD", "TransferType": "QUEUE"}
    params = wp.taskrouter(
        "task.transfer-completed",
        T0 + 60,
        "EV6",
        **wp.task_fields("WT1", "support"),
        **transfer,
        TransferTo=sales_sid,
    )
    (event,) = map_taskrouter(params, config)  # type: ignore[misc]
    assert isinstance(event, CallTransferred)
    assert (event.queue, event.call_id, event.to_queue, event.while_queued) == (
        "support",
        "WT1",
        "sales",
        False,
    )
    retried = map_taskrouter({**params, "Sid": "EV7"}, config)
    assert isinstance(retried, list) and retried[0].id == event.id  # one transfer, one id
    to_worker = {**params, "TransferType": "WORKER", "TransferTo": "WK" + "6" * 32}
    (direct,) = map_taskrouter(to_worker, config)  # type: ignore[misc]
    assert isinstance(direct, CallTransferred) and direct.to_queue is None
    initiated = {**params, "EventType": "task.transfer-initiated"}
    assert map_taskrouter(initiated, config) == []  # counted once, when it is done


def test_taskrouter_callback_request_and_callback_task() -> None:
    config = TwilioSourceConfig()
    canceled = wp.taskrouter(
        "task.canceled",
        T0 + 30,
        "EV8",
        **wp.task_fields("WT1", "support"),
        TaskCanceledReason="Callback requested",
    )
    (request,) = map_taskrouter(canceled, config)  # type: ignore[misc]
    assert isinstance(request, CallCallbackRequested) and request.call_id == "WT1"
    fields = {
        **wp.task_fields("WT2", "support"),
        "TaskAttributes": json.dumps({"callback_for": "WT1", "to": "+15555550100"}),
    }
    created = wp.taskrouter("task.created", T0 + 31, "EV9", **fields)
    entered = wp.taskrouter("task-queue.entered", T0 + 31, "EV10", **fields)
    assert map_taskrouter(created, config) == map_taskrouter(entered, config) == []
    accepted = wp.taskrouter(
        "reservation.accepted", T0 + 300, "EV11", **fields, WorkerName="bob", ReservationSid="WR2"
    )
    (attempt,) = map_taskrouter(accepted, config)  # type: ignore[misc]
    assert isinstance(attempt, CallCallbackAttempted)
    assert (attempt.call_id, attempt.agent, attempt.queue) == ("WT1", "bob", "support")
    done = wp.taskrouter("task.completed", T0 + 400, "EV12", **fields)
    (completed,) = map_taskrouter(done, config)  # type: ignore[misc]
    assert isinstance(completed, CallCallbackCompleted)
    assert (completed.call_id, completed.success) == ("WT1", True)
    given_up = wp.taskrouter("task.canceled", T0 + 400, "EV13", **fields, TaskCanceledReason="x")
    (failed,) = map_taskrouter(given_up, config)  # type: ignore[misc]
    assert isinstance(failed, CallCallbackCompleted) and not failed.success
    assert failed.id == completed.id  # one end per callback


def test_taskrouter_worker_activity_is_an_agent_state_per_served_queue() -> None:
    params = wp.taskrouter(
        "worker.activity.update",
        T0,
        "EV4",
        WorkerSid="WK1",
        WorkerName="alice",
        WorkerActivityName="Break",
        WorkerPreviousActivityName="Available",
        WorkerTimeInPreviousActivity="300",
        WorkerAttributes=json.dumps({"queues": ["support", "sales"]}),
    )
    events = map_taskrouter(params, TwilioSourceConfig())
    assert isinstance(events, list)
    assert {(e.queue, e.state) for e in events if isinstance(e, AgentStateChanged)} == {
        ("support", "not_ready"),
        ("sales", "not_ready"),
    }
    no_queue = {**params, "WorkerAttributes": "{}"}
    assert isinstance(map_taskrouter(no_queue, TwilioSourceConfig()), Unmappable)
    (fallback,) = map_taskrouter(no_queue, TwilioSourceConfig(default_queue="all"))  # type: ignore[misc]
    assert fallback.queue == "all"


def test_taskrouter_without_event_type_or_queue_is_unmappable() -> None:
    assert isinstance(map_taskrouter({"Foo": "bar"}, TwilioSourceConfig()), Unmappable)
    params = wp.taskrouter("task.canceled", T0, "EV5", TaskSid="WT9")
    assert isinstance(map_taskrouter(params, TwilioSourceConfig()), Unmappable)
    assert map_taskrouter(wp.taskrouter("task.completed", T0, "EV6"), TwilioSourceConfig()) == []


# --- Zendesk -----------------------------------------------------------------------------------

AT = "2026-11-22T10:00:00Z"


def test_zendesk_ticket_events_map_to_ticket_events() -> None:
    config = ZendeskSourceConfig(group_queues={"360001": "support", "360002": "billing"})
    created = wp.zendesk_event("ticket.created", "e1", AT, "35436", "360001", {}, priority="HIGH")
    (event,) = map_zendesk(created, config)  # type: ignore[misc]
    assert isinstance(event, TicketCreated)
    assert (event.queue, event.ticket_id, event.priority, event.customer, event.channel) == (
        "support",
        "35436",
        "high",
        "8447388090494",
        "web_service",
    )
    solved = wp.zendesk_event(
        "ticket.status_changed",
        "e2",
        AT,
        "35436",
        "360001",
        {"current": "SOLVED", "previous": "OPEN"},
    )
    assert isinstance(map_zendesk(solved, config)[0], TicketSolved)  # type: ignore[index]
    reopened = wp.zendesk_event(
        "ticket.status_changed",
        "e3",
        AT,
        "35436",
        "360001",
        {"current": "PENDING", "previous": "SOLVED"},
    )
    events = map_zendesk(reopened, config)
    assert [type(e) for e in events] == [TicketReopened, TicketStatusChanged]  # type: ignore[union-attr]
    moved = wp.zendesk_event(
        "ticket.group_assignment_changed",
        "e4",
        AT,
        "35436",
        "360002",
        {"current": {"id": "360002"}, "previous": {"id": "360001"}},
    )
    (move,) = map_zendesk(moved, config)  # type: ignore[misc]
    assert isinstance(move, TicketMoved) and (move.queue, move.to_queue) == ("support", "billing")


@pytest.mark.parametrize(("status", "paused"), [("PENDING", "pending"), ("HOLD", "hold")])
def test_zendesk_ticket_created_waiting_starts_in_its_status(status: str, paused: str) -> None:
    """An agent who opens a ticket on the customer's behalf often sets it pending at once: the
    SLA clocks must start paused (engine.paused_statuses), so the status comes with it."""
    config = ZendeskSourceConfig(default_queue="support")
    created = wp.zendesk_event("ticket.created", "e9", AT, "77", "1", {}, status=status)
    events = map_zendesk(created, config)
    assert [type(e) for e in events] == [TicketCreated, TicketStatusChanged]  # type: ignore[union-attr]
    change = events[1]  # type: ignore[index]
    assert isinstance(change, TicketStatusChanged)
    assert (change.status, change.ticket_id, change.time) == (paused, "77", events[0].time)  # type: ignore[index]
    assert change.id != events[0].id  # type: ignore[index]
    opened = wp.zendesk_event("ticket.created", "e10", AT, "78", "1", {})  # status OPEN
    assert [type(e) for e in map_zendesk(opened, config)] == [TicketCreated]  # type: ignore[union-attr]


def test_zendesk_comments_and_satisfaction() -> None:
    config = ZendeskSourceConfig(default_queue="support")
    for staff, author in ((True, "agent"), (False, "customer")):
        payload = wp.zendesk_event(
            "ticket.comment_added",
            f"c{staff}",
            AT,
            "1",
            "9",
            {
                "comment": {
                    "author": {"id": "1", "is_staff": staff, "name": "X"},
                    "body": "Thanks",
                    "id": "5",
                    "is_public": True,
                }
            },
        )
        (reply,) = map_zendesk(payload, config)  # type: ignore[misc]
        assert isinstance(reply, TicketReplied) and reply.author == author and reply.public
    for rating, score in (("Good", 5), ("bad", 1), ("4", 4)):
        payload = {"type": "ccpulse:satisfaction", "ticket_id": "1", "rating": rating, "time": AT}
        (survey,) = map_zendesk(payload, config)  # type: ignore[misc]
        assert isinstance(survey, SurveyResponse) and survey.csat == score
    assert (
        map_zendesk({"type": "ccpulse:satisfaction", "ticket_id": "1", "rating": "offered"}, config)
        == []
    )
    assert isinstance(map_zendesk({"hello": 1}, config), Unmappable)
    assert (
        map_zendesk(wp.zendesk_event("ticket.subject_changed", "s", AT, "1", "9", {}), config) == []
    )


# --- Jira --------------------------------------------------------------------------------------


def test_jira_issue_lifecycle_maps_to_ticket_events() -> None:
    config = JiraSourceConfig(request_type_queues={"Get IT help": "it", "Billing": "billing"})
    created = wp.jira_issue("jira:issue_created", 1795341600000, "10002", "SUP-1")
    (event,) = map_jira(created, config)  # type: ignore[misc]
    assert isinstance(event, TicketCreated)
    assert (event.queue, event.ticket_id, event.priority) == ("it", "SUP-1", "high")
    resolved = wp.jira_issue(
        "jira:issue_updated",
        1795345200000,
        "10002",
        "SUP-1",
        status="Resolved",
        category="done",
        changelog=[
            {
                "field": "status",
                "fieldtype": "jira",
                "fieldId": "status",
                "from": "10001",
                "fromString": "In Progress",
                "to": "10002",
                "toString": "Resolved",
            }
        ],
    )
    assert [type(e) for e in map_jira(resolved, config)] == [TicketSolved]  # type: ignore[union-attr]
    reopened = wp.jira_issue(
        "jira:issue_updated",
        1795348800000,
        "10002",
        "SUP-1",
        status="In Progress",
        category="indeterminate",
        request_type="Billing",
        changelog=[
            {"field": "status", "fromString": "Resolved", "toString": "In Progress"},
            {
                "field": "Customer Request Type",
                "fieldId": "customfield_10010",
                "fromString": "Get IT help",
                "toString": "Billing",
            },
        ],
    )
    events = map_jira(reopened, config)
    assert [type(e) for e in events] == [TicketReopened, TicketMoved]  # type: ignore[union-attr]
    assert all(e.queue == "it" for e in events)  # type: ignore[union-attr]
    assert events[-1].to_queue == "billing"  # type: ignore[index, union-attr]


def test_jira_comment_author_and_unmappable() -> None:
    payload = wp.jira_issue("comment_created", 1795341700000, "10002", "SUP-1")
    payload["comment"] = {
        "id": "100",
        "author": {"accountId": "5b10ac8d82e05b22cc7d4ef5"},
        "body": "still broken",
        "jsdPublic": True,
    }
    (reply,) = map_jira(payload, JiraSourceConfig())  # type: ignore[misc]
    assert isinstance(reply, TicketReplied) and reply.author == "customer" and reply.queue == "SUP"
    assert isinstance(map_jira({"issue": {}}, JiraSourceConfig()), Unmappable)
    assert isinstance(
        map_jira({"webhookEvent": "jira:issue_created"}, JiraSourceConfig()), Unmappable
    )


def test_replay_reads_stored_webhook_payloads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [
        wp.zendesk_event("ticket.created", "e1", AT, "1", "360001", {}),
        wp.zendesk_event("ticket.created", "e2", "2026-11-22T10:01:00Z", "2", "360001", {}),
        wp.zendesk_event(
            "ticket.status_changed",
            "e3",
            "2026-11-22T10:02:00Z",
            "1",
            "360001",
            {"current": "SOLVED", "previous": "OPEN"},
        ),
        {"not": "zendesk"},
    ]
    path = tmp_path / "zendesk.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    code = main(
        ["replay", str(path), "--format", "zendesk", "--at", "2026-11-22T10:05:00Z", "--json"]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    queue = json.loads(out.out)["queues"]["zendesk-group-360001"]
    assert queue["backlog"] == 1
    assert ":4: no type" in out.err


def test_replay_reads_twilio_form_bodies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import urllib.parse

    bodies = [
        wp.taskrouter("task-queue.entered", T0, "EV1", **wp.task_fields("WT1", "support")),
        wp.taskrouter("task-queue.entered", T0 + 5, "EV2", **wp.task_fields("WT2", "support")),
        wp.taskrouter(
            "reservation.accepted",
            T0 + 10,
            "EV3",
            **wp.task_fields("WT1", "support", T0),
            WorkerName="a",
        ),
        wp.taskrouter(
            "task.canceled",
            T0 + 40,
            "EV4",
            **wp.task_fields("WT2", "support"),
            TaskCanceledReason="hangup",
        ),
    ]
    path = tmp_path / "twilio.txt"
    path.write_text("\n".join(urllib.parse.urlencode(b) for b in bodies) + "\n")
    code = main(
        [
            "replay",
            str(path),
            "--format",
            "twilio-taskrouter",
            "--at",
            "2026-11-22T10:05:00Z",
            "--json",
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    queue = json.loads(out.out)["queues"]["support"]
    assert (queue["entered"], queue["answered"], queue["abandoned"]) == (2, 1, 1)
    assert (queue["asa_seconds"], queue["avg_abandon_seconds"]) == (10.0, 35.0)


# --- Asterisk mapping with agent states ----------------------------------------------------------

QUEUE_LOG = [
    f"{T0}|NONE|support|PJSIP/200|ADDMEMBER|",
    f"{T0 + 1}|c1|support|NONE|ENTERQUEUE||0770|1",
    f"{T0 + 5}|c1|support|PJSIP/200|CONNECT|4|c1.2|3",
    f"{T0 + 6}|NONE|support|PJSIP/200|PAUSE|lunch",
    f"{T0 + 60}|c1|support|PJSIP/200|COMPLETEAGENT|4|55|1",
    f"{T0 + 61}|NONE|support|PJSIP/200|UNPAUSE|",
    f"{T0 + 70}|c2|support|NONE|ENTERQUEUE||0771|1",
    f"{T0 + 72}|c2|support|PJSIP/200|CONNECT|2|c2.2|1",
    f"{T0 + 100}|c2|support|PJSIP/200|BLINDTRANSFER|600|default|2|28|1",
]


def test_queue_log_agent_states_transfers_and_talk_time() -> None:
    mapper = QueueLogMapper()
    events = []
    for number, line in enumerate(QUEUE_LOG, start=1):
        mapped = mapper.map_line(line, number)
        assert not isinstance(mapped, ParseProblem)
        events.extend(mapped)
    states = [
        (int(e.time.timestamp()) - T0, e.state) for e in events if isinstance(e, AgentStateChanged)
    ]
    # CONNECT -> on_call; a PAUSE wins even on a call; the end of the call does not undo it;
    # UNPAUSE -> available; the transfer ends the second call.
    assert states == [
        (0, "available"),
        (5, "on_call"),
        (6, "not_ready"),
        (61, "available"),
        (72, "on_call"),
        (100, "available"),
    ]
    ended = [e for e in events if isinstance(e, CallEnded)]
    assert [e.talk_seconds for e in ended] == [55.0, 28.0]
    assert any(isinstance(e, CallTransferred) for e in events)
    assert len({e.id for e in events}) == len(events)


def test_queue_log_mapper_state_survives_a_restart() -> None:
    whole = QueueLogMapper()
    expected = [e for n, line in enumerate(QUEUE_LOG, 1) for e in whole.map_line(line, n)]  # type: ignore[union-attr]
    first = QueueLogMapper()
    got = [e for n, line in enumerate(QUEUE_LOG[:4], 1) for e in first.map_line(line, n)]  # type: ignore[union-attr]
    second = QueueLogMapper(state=json.loads(json.dumps(first.state())))
    got += [e for n, line in enumerate(QUEUE_LOG[4:], 5) for e in second.map_line(line, n)]  # type: ignore[union-attr]
    assert got == expected


def test_queue_map_renames_queues(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    path.write_text("\n".join(QUEUE_LOG) + "\n")
    events = list(read_queue_log(str(path), {"support": "helpdesk"}))
    assert {e.queue for e in events} == {"helpdesk"}  # type: ignore[union-attr]


# --- the follower ------------------------------------------------------------------------------


def drain(follower: FileFollower) -> list[str]:
    lines: list[str] = []
    while (batch := follower.read_batch(100)) is not None:
        lines.extend(text for _, text in batch.lines)
    return lines


def test_follower_reads_only_complete_lines_and_follows_a_rename_rotation(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    path.write_text("a\nb\npart")
    follower = FileFollower(str(path))
    assert drain(follower) == ["a", "b"]
    with open(path, "a") as handle:
        handle.write("ial\n")
    assert drain(follower) == ["partial"]
    with open(path, "a") as handle:
        handle.write("c\nlast-without-newline")
    os.rename(path, tmp_path / "queue_log.1")
    path.write_text("new-1\n")
    assert drain(follower) == ["c", "last-without-newline", "new-1"]


def test_follower_restarts_at_the_beginning_after_truncation(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    path.write_text("a\nb\n")
    follower = FileFollower(str(path))
    assert drain(follower) == ["a", "b"]
    path.write_text("x\n")  # truncated to less than the offset
    assert drain(follower) == ["x"]
    path.write_text("yyyyyyyyyyyyy\nz\n")  # truncated and rewritten past the offset
    assert drain(follower) == ["yyyyyyyyyyyyy", "z"]


def test_saved_position_resumes_and_finds_a_file_rotated_while_stopped(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    state = tmp_path / "state.json"
    path.write_text("a\nb\n")
    follower = FileFollower(str(path))
    batch = follower.read_batch(1)
    assert batch is not None and batch.lines == [(1, "a")]
    save_position(state, batch.position)
    follower.close()
    with open(path, "a") as handle:
        handle.write("c\n")
    os.rename(path, tmp_path / "queue_log.2026-11-22")
    path.write_text("d\n")
    restarted = FileFollower(str(path), load_position(state))
    assert drain(restarted) == ["b", "c", "d"]
    # Restarting from a position in a file truncated while stopped: from its start.
    save_position(state, restarted.position())
    restarted.close()
    path.write_text("e\n")
    assert drain(FileFollower(str(path), load_position(state))) == ["e"]


def drain_all(follower: FileFollower) -> list[tuple[int, str | tuple[int, str]]]:
    """Lines and over-long lines in reading order: (number, text) or (number, (size, sha256));
    a batch holding an over-long line holds nothing else."""
    found: list[tuple[int, str | tuple[int, str]]] = []
    while (batch := follower.read_batch(100)) is not None:
        found.extend(batch.lines)
        found.extend((long.number, (long.size, long.sha256)) for long in batch.overlong)
    return found


def test_follower_reads_a_line_over_the_limit_through_and_goes_on(tmp_path: Path) -> None:
    import hashlib

    from streams.ingest import follower as follower_module

    def long(text: str) -> tuple[int, str]:
        return len(text), hashlib.sha256(text.encode()).hexdigest()

    huge = "x" * (3 * follower_module.READ_CHUNK + 5)  # spans several reads
    path = tmp_path / "queue_log"
    path.write_text("a\n" + huge[:1000])  # being written: no newline yet
    follower = FileFollower(str(path), max_line_bytes=300)
    assert drain_all(follower) == [(1, "a")]
    with open(path, "a") as handle:
        handle.write(huge[1000:])
    assert drain_all(follower) == []  # still no newline: waited for, not held in memory
    with open(path, "a") as handle:
        handle.write("\nb\n" + "y" * 301 + "\nc\n")
    assert drain_all(follower) == [(2, long(huge)), (3, "b"), (4, long("y" * 301)), (5, "c")]
    batch_position = follower.position()
    assert batch_position.offset == path.stat().st_size and batch_position.line == 5
    # A rotated file that ends inside an over-long line: the end of the file ends the line.
    with open(path, "a") as handle:
        handle.write("z" * 400)
    os.rename(path, tmp_path / "queue_log.1")
    path.write_text("new\n")
    assert drain_all(follower) == [(6, long("z" * 400)), (1, "new")]
    # Resuming from a saved position just after an over-long line.
    path.write_text("w" * 500 + "\nafter\n")
    restarted = FileFollower(str(path), max_line_bytes=300)
    first = restarted.read_batch(100)
    assert first is not None and [line.number for line in first.overlong] == [1]
    restarted.close()
    assert drain_all(FileFollower(str(path), first.position, max_line_bytes=300)) == [(2, "after")]


# --- configuration -----------------------------------------------------------------------------


def test_sources_config_takes_secrets_from_the_environment_and_names_bad_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streams.config import ConfigError, load_config

    monkeypatch.setenv("TEST_TWILIO_TOKEN", "tok-123")
    path = tmp_path / "ccpulse.yaml"
    path.write_text(
        "sources:\n"
        "  twilio:\n"
        "    auth_token: ${TEST_TWILIO_TOKEN}\n"
        "    queue_map: {Support EN: support}\n"
        "  webhooks:\n"
        "    port: 9999\n"
    )
    config = load_config(path)
    assert config.sources.twilio.auth_token == "tok-123"
    assert config.sources.twilio.queue_map == {"Support EN": "support"}
    assert config.sources.webhooks.port == 9999
    path.write_text("sources:\n  webhooks:\n    respond_after: never\n")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value).startswith(f"{path}:3: sources.webhooks.respond_after:")


def test_taskrouter_callbacks_naming_the_queue_only_by_sid_land_in_the_same_queue() -> None:
    known: dict[str, str] = {}
    fields = wp.task_fields("WT7", "Support EN", T0)
    entered = wp.taskrouter("task-queue.entered", T0, "EV1", **fields)
    sid_only = {k: v for k, v in fields.items() if k != "TaskQueueName"}
    accepted = wp.taskrouter("reservation.accepted", T0 + 3, "EV2", **sid_only, WorkerName="bo")
    (enter,) = map_taskrouter(entered, TwilioSourceConfig(), known)  # type: ignore[misc]
    (answer,) = map_taskrouter(accepted, TwilioSourceConfig(), known)  # type: ignore[misc]
    assert enter.queue == answer.queue == "Support EN"
    mapped = TwilioSourceConfig(queue_map={fields["TaskQueueSid"]: "support"})
    (answer,) = map_taskrouter(accepted, mapped)  # type: ignore[misc]
    assert answer.queue == "support"
