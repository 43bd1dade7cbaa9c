"""The reliability run, ``make chaos`` (``python -m local.chaos``): thousands of messages through the
local pipeline with faults everywhere, then proof that nothing was lost, nothing was called again after
a recorded settlement, the ledger's invariants held, and nothing was trusted without a valid signature.

The pipeline is the one ``make demo`` runs (``local.stack.local_stack.LocalStack``: an atomic moto
server subprocess and the Alipay gateway emulator over loopback HTTP, resources from template.yaml;
the event source mapping driver ``local.aws.esm_driver``; the function in awslambdaric processes,
killed at its timeout, ``local.lambda_runtime.lambda_environment``), with:

- a wire tap (``local.chaos.wiretap``) between the function and the emulator recording every Alipay
  exchange and checking each answer's signature independently;
- per-trade faults on >= 25 % of Alipay calls, every fault kind the emulator has
  (``local.chaos.plan``), business errors switching between the envelope and the v3 shape;
- DynamoDB / SQS / Secrets Manager errors including throttling on ~2 % of the function's AWS calls,
  and on every n-th ledger claim and final write, through botocore event hooks on the function's own
  clients inside each environment (``local.chaos.aws_faults``, installed by ``local.chaos.env_hooks``);
- crashes: environments SIGKILLed before the Alipay call, after Alipay answered, after the ledger
  claim, after the final write before the dead letter / visibility change, and at the function
  timeout (``local.chaos.crashes``), >= 5 % of invocations in a full run;
- one app key rotation halfway: the emulator learns the new public key, the secret in moto's Secrets
  Manager is updated, the old key is refused after a grace period;
- duplicates (10 % of trades, 2-4 copies: in one batch, spread out, or sent after the first finished)
  and bad messages of every kind mixed in;
- outcome events published from the results table's stream all along, the publisher dying before
  and after PutEvents, the bus refusing, the stream reader restarted from its checkpoints
  (``local.chaos.events``): every final state must reach the order system's queue, repeats
  identified by event_id.

Then every invariant of ``local.chaos.checks`` is checked; a summary table is printed (and written as
JSON with ``--json``), and the exit code is 1 on any violation.

Deviations from the template, for run time only: short retry backoffs and horizon (template
parameters, CHAOS_PARAMETERS), 1 s / 2 s Alipay timeouts, the function timeout lowered from 120 s to
``--function-timeout`` and the queue's visibility timeout from 720 s to ``--visibility-timeout`` (a
message whose processing failed on an AWS error returns after it). The visibility timeout is never
below the function timeout: AWS refuses that for an SQS event source, and the ledger's leases (which
end at the invocation's deadline) rely on it.
"""
