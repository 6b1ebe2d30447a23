"""Alert notifications: who is told (routes), how (receivers), and delivery that never blocks.

The alert rules and state machine live in processors/alert_rules.py and processors/alerts.py;
this package turns their transitions into notifications and delivers them: a generic webhook,
a Slack-compatible incoming webhook, email over SMTP and Prometheus Alertmanager
(docs/alerts.md, "Routing and receivers").
"""

from streams.alerting.config import (
    AlertmanagerReceiver,
    EmailReceiver,
    NotifyConfig,
    Receiver,
    Route,
    SlackReceiver,
    WebhookReceiver,
)
from streams.alerting.dispatch import Dispatcher
from streams.alerting.notification import Notification

__all__ = [
    "AlertmanagerReceiver",
    "Dispatcher",
    "EmailReceiver",
    "Notification",
    "NotifyConfig",
    "Receiver",
    "Route",
    "SlackReceiver",
    "WebhookReceiver",
]
