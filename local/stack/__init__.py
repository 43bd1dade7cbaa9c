"""The whole pipeline on loopback, no AWS account: ``make local-stack`` (``python -m local.stack``),
and what the demo, the chaos run, ``make invoke``, the benchmarks and the pipeline tests start.

- ``local_stack``: ``LocalStack``, the AWS stand-in's moto server in a subprocess and the Alipay
  gateway emulator, the resources of template.yaml created on it, the function's environments and
  its event source mapping;
- ``events_and_schedules``: outcome events and scheduled cancels for a run, on the stack's moto
  server (``local.aws``'s stream mapping, publisher and schedule runner, and the after-run check);
- ``events``: what ``make local-stack`` shows of them, one line per event and per schedule fired;
- ``__main__``: ``make local-stack``'s command line, its banner and one line per message.

Imports of ``local``: ``local.aws``, ``local.lambda_runtime``, ``local.accounting``,
``local.alipay_gateway`` and the example trades and keys (``local.showcase``, ``local.seed_trades``,
``local.keygen``); the runs (``local.demo``, ``local.chaos``, ``local.invoke``) build on it.
"""
