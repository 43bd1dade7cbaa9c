"""SQS's own limits, in one place (every number here is AWS's, not a choice of ours)."""

from __future__ import annotations

SQS_MAX_VISIBILITY_SECONDS = 43200  # 12 hours: ChangeMessageVisibility rejects anything larger
SQS_MAX_RETENTION_SECONDS = 1_209_600  # 14 days: the longest a queue keeps a message
SQS_MAX_DELAY_SECONDS = 900  # SendMessage's DelaySeconds maximum
SQS_MAX_MESSAGE_ATTRIBUTES = 10  # message attributes per message
