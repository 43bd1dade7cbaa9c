"""What the chaos run does while the pipeline drains: it feeds the first wave as the queue empties,
rotates the app key halfway (and probes both keys once the old one has retired), sends the late
duplicates, switches the emulator's error shape, keeps the outcome-event faults in step and prints
progress. The driver calls ``progress`` every half second; ``catch_up`` does what is still owed when
the queue drained between two calls."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import requests

from local.accounting.messages import Enqueued
from local.alipay_gateway.admin_client import GatewayAdmin
from local.aws.esm_driver import Progress
from local.chaos.catalogue import CHAOS_MERCHANT
from local.chaos.events import ChaosEvents
from local.chaos.plan import ChaosPlan, PlannedFault, chunked_sends
from local.chaos.summary import RunState
from local.chaos.wiretap import WireTap
from local.keygen import RsaKeyPair
from local.stack.local_stack import LocalStack

ROTATION_GRACE_SECONDS = 1.0
ROTATE_AT = 0.5  # share of the first wave processed
LATE_AT = 0.7
SHAPE_SWITCH_SECONDS = 7.0
FEED_BACKLOG = 400
PROGRESS_EVERY_SECONDS = 5.0


class Conductor:
    """Create once the stack, the wire tap and the outcome events are up; ``prepare`` before the drive."""

    def __init__(
        self,
        *,
        plan: ChaosPlan,
        rng: random.Random,
        stack: LocalStack,
        tap: WireTap,
        events: ChaosEvents,
        new_app_key: RsaKeyPair,
        say: Callable[[str], object],
    ) -> None:
        self.plan, self.rng, self.stack, self.tap, self.events = plan, rng, stack, tap, events
        self.new_app_key = new_app_key
        self.say = say
        self.state = RunState()
        self.admin = GatewayAdmin(stack.gateway_url)
        self.sqs = stack.client("sqs")
        self._secrets = stack.client("secretsmanager")
        # The first wave arrives as a stream, at most FEED_BACKLOG messages waiting at a time: moto's
        # ReceiveMessage scans the whole queue several times per call, so a queue of thousands makes
        # every receive cost seconds of the (atomic, one-request-at-a-time) stand-in.
        self.pending_calls = chunked_sends(plan, rng, late=False)
        self.first_wave = sum(len(call) for call in self.pending_calls)
        self._feed_lock = threading.Lock()
        self._timers: list[threading.Timer] = []
        self._last_switch = time.monotonic()
        self._last_print = 0.0

    def prepare(self) -> None:
        """The emulator's trades, tokens and planned faults; the first messages on the queue."""
        admin, plan = self.admin, self.plan
        admin.seed_trades(plan.trades)
        for token in plan.tokens:
            admin.set_token(token, user_id=CHAOS_MERCHANT)
        _post_faults(self.stack.gateway_url, plan.faults)
        for trade in plan.forever_failing:
            admin.set_fault("http_5xx", trade=trade, times=None, http_status=503)
        self.feed(0)

    def feed(self, backlog: int) -> None:
        with self._feed_lock:
            room = FEED_BACKLOG - backlog
            batch: list[list[Any]] = []
            while self.pending_calls and room > 0:
                room -= len(self.pending_calls[0])
                batch.append(self.pending_calls.pop(0))
            self._send(batch)

    def progress(self, p: Progress) -> None:
        state, done = self.state, p.stats.records_deleted
        if self.pending_calls and p.depth.visible + p.depth.delayed < FEED_BACKLOG // 2:
            self.feed(p.depth.visible + p.depth.delayed)
        if state.rotated_at is None and done >= ROTATE_AT * self.first_wave:
            self.rotate()
        if not state.late_done and done >= LATE_AT * self.first_wave:
            self.send_late()
        self.events.on_progress(done / self.first_wave)
        if time.monotonic() - self._last_switch >= SHAPE_SWITCH_SECONDS:
            self._last_switch = time.monotonic()
            state.shape_switches += 1
            self.admin.settings(error_shape="v3" if state.shape_switches % 2 else "envelope")
        if p.elapsed - self._last_print >= PROGRESS_EVERY_SECONDS or p.depth.total == 0:
            self._last_print = p.elapsed
            s = p.stats
            self.say(
                f"  [{p.elapsed:6.1f}s] invocations {s.invocations:5d}  records {s.records_received:5d}  "
                f"acknowledged {s.records_deleted:5d}  retried {s.item_failures_reported:4d}  | queue "
                f"{p.depth.visible} visible {p.depth.in_flight} in flight {p.depth.delayed} delayed  "
                f"| dead letters {p.depth.dead_letters}  | Alipay calls {len(self.tap.exchanges())}"
            )

    def catch_up(self) -> bool:
        """After the queue drained: do what is still owed (False: nothing was, the run is over)."""
        state = self.state
        if self.pending_calls:
            self.feed(0)
            return True
        if state.rotated_at is not None and state.late_done:
            return False
        if state.rotated_at is None:
            self.rotate()
            state.notes.append("rotation happened only once the first wave had drained")
        if not state.late_done:
            self.send_late()
        return True

    def rotate(self) -> None:
        state, km = self.state, self.stack.key_material
        state.rotated_at = time.time()
        settings = self.admin.rotate_app_key(
            self.new_app_key.public_pem, grace_seconds=ROTATION_GRACE_SECONDS
        )
        self.tap.add_app_key("new", self.new_app_key.public_pem)
        retire = [k["retire_at"] for k in settings["app_keys"] if k.get("retire_at")]
        state.retire_at = min(retire) if retire else state.rotated_at + ROTATION_GRACE_SECONDS
        secret = km.secret()
        secret["private_key"] = self.new_app_key.private_pem
        self._secrets.put_secret_value(
            SecretId=self.stack.resources.secret_id, SecretString=json.dumps(secret)
        )
        timer = threading.Timer(ROTATION_GRACE_SECONDS + 0.5, self._probe_after_grace, (secret,))
        self._timers.append(timer)
        timer.start()
        self.say(
            "  [rotation] new app key at the emulator and in the secret; old key retires in "
            f"{ROTATION_GRACE_SECONDS:.0f}s"
        )

    def send_late(self) -> None:
        state = self.state
        before = len(state.enqueued)
        self._send(chunked_sends(self.plan, self.rng, late=True))
        state.late_sent = len(state.enqueued) - before
        state.late_done = True
        self.say(f"  [late duplicates] {state.late_sent} copies of trades already processed")

    def finish(self) -> None:
        """Waits for the probes after the rotation's grace."""
        for timer in self._timers:
            timer.join()

    def _probe_after_grace(self, new_secret: dict[str, str]) -> None:
        # Trades unknown to the emulator: a cancel that gets through answers success, no action.
        probes, run_id = self.state.probes, self.plan.run_id
        probes["old"] = probe_key(self.tap.base_url, self.stack.key_material.secret(), f"PROBE{run_id}OLD")
        probes["new"] = probe_key(self.tap.base_url, new_secret, f"PROBE{run_id}NEW")
        self.say(f"  [rotation] after the grace: old key {probes['old']}, new key {probes['new']}")

    def _send(self, plan_calls: list[list[Any]]) -> None:
        queue_url, state = self.stack.resources.queue_url, self.state
        for call in plan_calls:
            response = self.sqs.send_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "MessageBody": m.body} for i, m in enumerate(call)],
            )
            if response.get("Failed"):
                raise RuntimeError(f"SendMessageBatch failed: {response['Failed']}")
            for entry in response["Successful"]:
                m = call[int(entry["Id"])]
                state.enqueued.append(Enqueued(entry["MessageId"], m.body, m.trade_key, m.scenario))
                if m.bad:
                    state.bad_message_ids.add(entry["MessageId"])


def _post_faults(gateway_url: str, faults: list[PlannedFault]) -> None:
    """The emulator's admin API takes a list of faults in one POST (see its README)."""
    for start in range(0, len(faults), 500):
        response = requests.post(
            f"{gateway_url}/__admin/faults", json=[f.spec() for f in faults[start : start + 500]], timeout=30
        )
        response.raise_for_status()


def probe_key(endpoint: str, secret: dict[str, str], trade: str) -> str:
    """One cancel signed with ``secret``'s app key, sent with the function's own client through the
    wire tap: 'accepted' or the refusal's code. Evidence that a key works or no longer works."""
    from alipay_cancel.alipay import TradeRef
    from alipay_cancel.alipay.client import AlipayClient
    from alipay_cancel.alipay.responses import CancelSuccess
    from alipay_cancel.alipay.signing_material import load_signing_material

    client = AlipayClient(endpoint, load_signing_material(secret), connect_timeout=1, read_timeout=5)
    try:
        outcome = client.cancel(TradeRef(out_trade_no=trade, trade_no=None))
    finally:
        client.session.close()
    if isinstance(outcome, CancelSuccess):
        return "accepted"
    return f"refused: HTTP {outcome.http_status} {outcome.code or outcome.kind.value}"
