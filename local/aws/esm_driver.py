"""Drive the Lambda function exactly as the Lambda SQS event source mapping (ESM) would.

What the real ESM does, and this driver does the same over real SQS API calls (moto server):
- up to ``MaximumConcurrency`` pollers, each long-polling ``ReceiveMessage`` (all system and message
  attributes) and gathering up to ``BatchSize`` records within ``MaximumBatchingWindowInSeconds``
  (a window of 0 invokes with whatever one receive returned);
- one invocation per batch with a Lambda-shaped SQS event and a Lambda-shaped context whose
  remaining time counts down from the function ``Timeout``;
- ``ReportBatchItemFailures``: records not listed in ``batchItemFailures`` are deleted
  (``DeleteMessageBatch``); listed ones are left for their visibility timeout (the handler sets it
  itself). An empty/absent/null response is full success; an invalid one (bad JSON shape, empty or
  unknown ``itemIdentifier``) fails the whole batch, as AWS documents;
- a handler exception, or an invocation that outlives the function timeout (Lambda would have killed
  it), deletes nothing: the whole batch comes back after the queue's visibility timeout;
- redrive to the dead-letter queue after ``maxReceiveCount`` receives is the queue's job. moto 5
  implements it inside ``ReceiveMessage`` exactly as SQS does (a visible message whose receive count
  has reached maxReceiveCount moves to the DLQ instead of being delivered), so the driver adds
  nothing there; ``redrive_is_implemented_by_moto`` checks that moto still does.

The function is what ``invoke(event) -> InvokeResult`` answers: normally an
``local.lambda_runtime.lambda_environment.EnvironmentPool`` (each execution environment a separate
``awslambdaric`` process, killed at the timeout, at most ``MaximumConcurrency`` of them). A plain
handler callable is wrapped in ``InProcessFunction`` (for fast tests of logic only: invocations then
share one process, and an overrunning one cannot be killed, only treated as failed).
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from local.aws.provision import REGION, aws_client
from local.lambda_runtime.in_process import serialise_metrics_flush
from local.lambda_runtime.lambda_environment import InvokeResult

Handler = Callable[[dict[str, Any], Any], Any]


class Function(Protocol):
    def invoke(self, event: dict[str, Any]) -> InvokeResult: ...


MAX_RECEIVE_PER_CALL = 10  # SQS ReceiveMessage limit
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # Lambda synchronous invocation payload limit


class LambdaContext:
    """The attributes and method of the Lambda Python runtime's context object."""

    def __init__(
        self, *, function_name: str, function_arn: str, memory_mb: int, timeout_seconds: int
    ) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = function_arn
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = time.strftime("%Y/%m/%d") + "/[$LATEST]" + uuid.uuid4().hex
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class InProcessFunction:
    """The handler called in this process with a Lambda-shaped context (fast tests of logic only)."""

    def __init__(self, handler: Handler, config: EsmConfig) -> None:
        self.handler = handler
        self.config = config
        serialise_metrics_flush()  # invocations may run on threads of this one process

    def invoke(self, event: dict[str, Any]) -> InvokeResult:
        cfg = self.config
        context = LambdaContext(
            function_name=cfg.function_name,
            function_arn=cfg.function_arn,
            memory_mb=cfg.memory_size,
            timeout_seconds=cfg.function_timeout,
        )
        started = time.monotonic()
        try:
            # A JSON round trip: the handler gets its own copy, as from the Lambda runtime.
            response = self.handler(json.loads(json.dumps(event)), context)
        except Exception as exc:  # noqa: BLE001 - the function errored: Lambda retries the whole batch
            return InvokeResult("error", None, f"handler raised {type(exc).__name__}: {exc}")
        elapsed = time.monotonic() - started
        if elapsed > cfg.function_timeout:
            return InvokeResult("timeout", None, f"invocation outlived the {cfg.function_timeout}s timeout")
        try:
            payload = json.loads(json.dumps(response))  # what the Runtime API would carry
        except (TypeError, ValueError):
            return InvokeResult("error", None, f"response is not JSON serialisable: {response!r:.200}")
        return InvokeResult("response", payload, duration=elapsed)


@dataclass(frozen=True)
class EsmConfig:
    queue_url: str
    queue_arn: str
    endpoint_url: str
    function_name: str
    function_arn: str
    function_timeout: int
    memory_size: int
    batch_size: int = 10
    batching_window_seconds: int = 0
    maximum_concurrency: int = 5  # AWS's minimum for MaximumConcurrency, and its initial poller count
    report_batch_item_failures: bool = True
    region: str = REGION
    poll_wait_seconds: int = 1  # long-poll length; short so pollers stop promptly (AWS uses 20)


@dataclass
class DriverStats:
    invocations: int = 0
    records_received: int = 0
    records_deleted: int = 0
    item_failures_reported: int = 0
    handler_errors: int = 0
    invalid_responses: int = 0
    timeouts: int = 0  # invocations that outlived the function timeout (the environment was killed)
    crashes: int = 0  # invocations whose environment died or was killed before answering
    cold_starts: int = 0  # invocations that started a new execution environment
    delete_errors: int = 0
    max_batch: int = 0
    receive_counts: dict[str, int] = field(default_factory=dict)  # messageId -> highest receive count
    # messageId -> receive counts of the deliveries whose invocation died (crash or timeout)
    killed_receipts: dict[str, set[int]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # one line per handler error / invalid response

    def snapshot(self) -> DriverStats:
        return replace(
            self,
            receive_counts=dict(self.receive_counts),
            killed_receipts={k: set(v) for k, v in self.killed_receipts.items()},
            errors=list(self.errors),
        )


@dataclass(frozen=True)
class QueueDepth:
    visible: int
    in_flight: int
    delayed: int
    dead_letters: int | None = None

    @property
    def total(self) -> int:
        return self.visible + self.in_flight + self.delayed


@dataclass(frozen=True)
class Progress:
    elapsed: float
    depth: QueueDepth
    stats: DriverStats


@dataclass(frozen=True)
class DriveResult:
    drained: bool
    elapsed: float
    stats: DriverStats
    depth: QueueDepth


def lambda_message_attributes(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """SQS API shape (``StringValue``/``DataType``) -> the Lambda event's camelCase shape."""
    out: dict[str, Any] = {}
    for name, value in attrs.items():
        entry: dict[str, Any] = {
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value["DataType"],
        }
        if "StringValue" in value:
            entry["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            raw = value["BinaryValue"]
            entry["binaryValue"] = base64.b64encode(raw if isinstance(raw, bytes) else raw.encode()).decode()
        out[name] = entry
    return out


def sqs_record(message: Mapping[str, Any], queue_arn: str, region: str = REGION) -> dict[str, Any]:
    """One ReceiveMessage message as a Lambda SQS event record."""
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": lambda_message_attributes(message.get("MessageAttributes") or {}),
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def failed_ids(response: Any, batch_ids: set[str]) -> set[str] | None:
    """Message ids to keep per ReportBatchItemFailures; None means the whole batch failed."""
    if response is None:
        return set()
    if not isinstance(response, Mapping):
        return None
    failures = response.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return None
    kept: set[str] = set()
    for item in failures:
        if not isinstance(item, Mapping):
            return None
        ident = item.get("itemIdentifier")
        if not isinstance(ident, str) or not ident or ident not in batch_ids:
            return None
        kept.add(ident)
    return kept


def queue_depth(sqs: Any, queue_url: str, dlq_url: str | None = None) -> QueueDepth:
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
    dead: int | None = None
    if dlq_url:
        dlq = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=names)["Attributes"]
        dead = sum(int(dlq.get(n, 0)) for n in names)
    return QueueDepth(
        visible=int(attrs.get(names[0], 0)),
        in_flight=int(attrs.get(names[1], 0)),
        delayed=int(attrs.get(names[2], 0)),
        dead_letters=dead,
    )


class EsmDriver:
    def __init__(
        self,
        function: Handler | Function,
        config: EsmConfig,
        *,
        dlq_url: str | None = None,
        sqs_client_factory: Callable[[], Any] | None = None,
    ) -> None:
        self.function: Function = (
            function if hasattr(function, "invoke") else InProcessFunction(function, config)  # type: ignore[arg-type]
        )
        self.config = config
        self.dlq_url = dlq_url
        self._client_factory = sqs_client_factory or (lambda: aws_client("sqs", config.endpoint_url))
        self._lock = threading.Lock()
        self._stats = DriverStats()
        self._stop = threading.Event()
        self._busy = 0  # batches between receive and the end of their delete

    @property
    def stats(self) -> DriverStats:
        with self._lock:
            return self._stats.snapshot()

    # --- one poller --------------------------------------------------------------------------
    def _receive_batch(self, sqs: Any) -> list[dict[str, Any]]:
        cfg = self.config
        batch: list[dict[str, Any]] = []
        size = 0
        window_end: float | None = None
        while len(batch) < cfg.batch_size and not self._stop.is_set():
            if window_end is None:
                wait = cfg.poll_wait_seconds
            else:
                remaining = window_end - time.monotonic()
                if remaining <= 0:
                    break
                wait = max(0, min(cfg.poll_wait_seconds, int(remaining)))
            try:
                messages = sqs.receive_message(
                    QueueUrl=cfg.queue_url,
                    MaxNumberOfMessages=min(MAX_RECEIVE_PER_CALL, cfg.batch_size - len(batch)),
                    WaitTimeSeconds=wait,
                    MessageSystemAttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
            except Exception:
                if not batch:
                    raise
                break  # invoke with what the window gathered so far
            if messages and not batch:
                with self._lock:
                    self._busy += 1
                window_end = time.monotonic() + cfg.batching_window_seconds
            batch.extend(messages)
            size += sum(len(m["Body"].encode()) for m in messages)
            if batch and (cfg.batching_window_seconds == 0 or size >= MAX_PAYLOAD_BYTES):
                break
            if not messages and not batch:
                return []  # nothing this long poll: let the caller re-check the stop flag
        return batch

    def _invoke(self, sqs: Any, batch: list[dict[str, Any]]) -> None:
        cfg = self.config
        event = {"Records": [sqs_record(m, cfg.queue_arn, cfg.region) for m in batch]}
        ids = {m["MessageId"] for m in batch}
        with self._lock:
            self._stats.invocations += 1
            self._stats.records_received += len(batch)
            self._stats.max_batch = max(self._stats.max_batch, len(batch))
            for m in batch:
                count = int(m.get("Attributes", {}).get("ApproximateReceiveCount", 0))
                prev = self._stats.receive_counts.get(m["MessageId"], 0)
                self._stats.receive_counts[m["MessageId"]] = max(prev, count)
        result = self.function.invoke(event)
        with self._lock:
            self._stats.cold_starts += int(result.cold)
            if result.kind != "response":
                # The function errored, timed out or its environment died: Lambda retries the whole
                # batch (nothing is deleted; the records come back after the visibility timeout).
                self._stats.handler_errors += result.kind in ("error", "init_error")
                self._stats.timeouts += result.kind == "timeout"
                self._stats.crashes += result.kind == "crash"
                if result.kind in ("crash", "timeout"):
                    for m in batch:
                        count = int(m.get("Attributes", {}).get("ApproximateReceiveCount", 0))
                        self._stats.killed_receipts.setdefault(m["MessageId"], set()).add(count)
                self._stats.errors.append(f"{result.kind}: {result.detail}"[:300])
                return
        response = result.payload
        keep = failed_ids(response, ids) if cfg.report_batch_item_failures else set()
        if keep is None:
            with self._lock:
                self._stats.invalid_responses += 1
                self._stats.errors.append(f"invalid batch response {str(response)[:200]}")
            return
        to_delete = [m for m in batch if m["MessageId"] not in keep]
        deleted = 0
        errors = 0
        for start in range(0, len(to_delete), MAX_RECEIVE_PER_CALL):
            chunk = to_delete[start : start + MAX_RECEIVE_PER_CALL]
            answer = sqs.delete_message_batch(
                QueueUrl=cfg.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
            deleted += len(answer.get("Successful", []))
            errors += len(answer.get("Failed", []))
        with self._lock:
            self._stats.item_failures_reported += len(keep)
            self._stats.records_deleted += deleted
            self._stats.delete_errors += errors

    def _poller(self) -> None:
        sqs = self._client_factory()
        while not self._stop.is_set():
            try:
                batch = self._receive_batch(sqs)
            except Exception as exc:  # noqa: BLE001 - a failed poll is retried, as the ESM does
                with self._lock:
                    self._stats.errors.append(f"receive failed: {type(exc).__name__}: {exc}")
                time.sleep(0.2)
                continue
            if not batch:
                continue
            try:
                self._invoke(sqs, batch)
            except Exception as exc:  # noqa: BLE001 - delete failed: the records come back, as with AWS
                with self._lock:
                    self._stats.errors.append(f"delete failed: {type(exc).__name__}: {exc}")
            finally:
                with self._lock:
                    self._busy -= 1

    # --- the run -------------------------------------------------------------------------------
    def _start_pollers(self) -> list[threading.Thread]:
        self._stop.clear()
        threads = [
            threading.Thread(target=self._poller, name=f"esm-poller-{i}", daemon=True)
            for i in range(max(1, self.config.maximum_concurrency))
        ]
        for t in threads:
            t.start()
        return threads

    def _stop_pollers(self, threads: list[threading.Thread], join_timeout: float | None) -> None:
        self._stop.set()
        wait = self.config.poll_wait_seconds + self.config.function_timeout + 5
        end = time.monotonic() + (wait if join_timeout is None else join_timeout)
        for t in threads:
            t.join(timeout=max(0.0, end - time.monotonic()))

    def run_until_stopped(self, stop: threading.Event, *, join_timeout: float = 2.0) -> DriverStats:
        """Poll until ``stop`` is set (``make local-stack``). Pollers still inside an invocation are
        left to the caller, who closes the environments (they are daemon threads)."""
        threads = self._start_pollers()
        try:
            while not stop.wait(0.2):
                pass
        finally:
            self._stop_pollers(threads, join_timeout)
        return self.stats

    def run_until_drained(
        self,
        *,
        deadline_seconds: float = 300.0,
        progress: Callable[[Progress], None] | None = None,
        progress_interval: float = 1.0,
        check_interval: float = 0.25,
        stable_checks: int = 4,
    ) -> DriveResult:
        """Poll until the queue holds nothing visible, in flight or delayed on ``stable_checks``
        consecutive checks with no batch in hand (or until the safety deadline)."""
        monitor = self._client_factory()
        threads = self._start_pollers()
        started = time.monotonic()
        stable = 0
        last_progress = 0.0
        drained = False
        depth = QueueDepth(0, 0, 0)
        try:
            while True:
                time.sleep(check_interval)
                elapsed = time.monotonic() - started
                depth = queue_depth(monitor, self.config.queue_url, self.dlq_url)
                with self._lock:
                    busy = self._busy
                stable = stable + 1 if depth.total == 0 and busy == 0 else 0
                if progress is not None and (
                    elapsed - last_progress >= progress_interval or stable >= stable_checks
                ):
                    last_progress = elapsed
                    progress(Progress(elapsed, depth, self.stats))
                if stable >= stable_checks:
                    drained = True
                    break
                if elapsed > deadline_seconds:
                    break
        finally:
            self._stop_pollers(threads, None)
        return DriveResult(drained, time.monotonic() - started, self.stats, depth)


def redrive_is_implemented_by_moto() -> bool:
    """True while moto's ReceiveMessage moves over-received messages to the DLQ (see module doc)."""
    import inspect

    from moto.sqs.models import SQSBackend

    source = inspect.getsource(SQSBackend.receive_message)
    return "maxReceiveCount" in source and "dead_letter_queue" in source
