"""Wiring: one CancelService per warm container, from a Config, with one boto3 client per AWS service.

boto3 clients are built once and shared by every record and thread (they are thread-safe);
AWS_ENDPOINT_URL (boto3's standard override) points them at a local moto server. DynamoDB and Secrets
Manager are needed by every invocation and are built at init; SQS only for dead letters and retry
delays, so it is built on first use (a client costs 25-40 ms of cold start).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import boto3
from botocore.config import Config as BotoConfig

from alipay_cancel.alipay.client import AlipayClient
from alipay_cancel.alipay.signing_material import SigningMaterial
from alipay_cancel.config import Config
from alipay_cancel.pipeline.apply import PlanApplier
from alipay_cancel.pipeline.calls import AlipayCalls
from alipay_cancel.pipeline.concurrent_batch import ConcurrentSqsBatchProcessor
from alipay_cancel.pipeline.service import CancelService
from alipay_cancel.pipeline.token_owners import TokenOwners
from alipay_cancel.signing.registry import SigningRegistry
from alipay_cancel.stores.dead_letters import DeadLetterSender
from alipay_cancel.stores.lazy_client import LazyClient
from alipay_cancel.stores.ledger import Ledger
from alipay_cancel.stores.requeue import Requeuer
from alipay_cancel.stores.visibility import VisibilityScheduler


@dataclass
class Runtime:
    """What the handler keeps between invocations."""

    config: Config
    service: CancelService
    executor: ThreadPoolExecutor | None

    def new_processor(self) -> ConcurrentSqsBatchProcessor:
        # A processor holds one invocation's state; the thread pool is what is worth keeping.
        return ConcurrentSqsBatchProcessor(self.executor)

    def close(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True)


def build_runtime(config: Config) -> Runtime:
    session = boto3.session.Session()
    # Enough pooled connections for every worker thread; standard retry mode with few attempts keeps a
    # throttled call inside the invocation short (the message is retried by the queue anyway).
    # No client-side parameter validation: botocore walks every nested attribute of the ledger's writes
    # (about 0.2 ms of CPU a message, 5-7 %: bench/latency_model.py), and the requests are built by typed
    # code in one place (stores/ledger.py); DynamoDB validates them anyway, a refusal is a ClientError.
    boto_config = BotoConfig(
        max_pool_connections=max(10, config.max_concurrency + 2),
        retries={"mode": "standard", "max_attempts": 3},
        parameter_validation=False,
    )
    dynamodb = session.client("dynamodb", config=boto_config)
    sqs = LazyClient(lambda: session.client("sqs", config=boto_config))
    secrets = session.client("secretsmanager", config=boto_config)

    def client_factory(material: SigningMaterial) -> AlipayClient:
        return AlipayClient(
            config.alipay_endpoint,
            material,
            connect_timeout=config.connect_timeout,
            read_timeout=config.read_timeout,
            response_max_age_seconds=config.response_max_age_seconds,
        )

    ledger = Ledger(dynamodb, config.results_table, config.default_app_id)
    calls = AlipayCalls(
        SigningRegistry(
            secrets,
            default_app_id=config.default_app_id,
            default_secret_id=config.secret_id,
            further_app_ids=config.further_app_ids,
            app_secret_prefix=config.app_secret_prefix,
            max_age_seconds=config.secret_max_age_seconds,
            client_factory=client_factory,
        )
    )
    service = CancelService(
        config,
        calls=calls,
        owners=TokenOwners(
            calls.refreshed,
            max_age_seconds=config.token_owner_max_age_seconds,
            call_budget_ms=CancelService.call_budget_ms(config),
        ),
        ledger=ledger,
        applier=PlanApplier(
            ledger=ledger,
            dead_letters=DeadLetterSender(sqs, config.dead_letter_queue_url),
            visibility=VisibilityScheduler(sqs, config.cancel_queue_url),
            requeuer=Requeuer(sqs, config.cancel_queue_url),
        ),
    )
    executor = (
        ThreadPoolExecutor(max_workers=config.max_concurrency, thread_name_prefix="cancel")
        if config.max_concurrency > 1
        else None
    )
    return Runtime(config=config, service=service, executor=executor)
