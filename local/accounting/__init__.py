"""Accounting of a local run (demo, chaos, make invoke, the pipeline tests): where every message and
every outcome event ended, against what the run expected.

- ``messages``: every message enqueued accounted for by the ledger's final state and/or a dead
  letter with its reason, and the surprises among them;
- ``outcome_accounting``: every final state the ledger wrote reached the order system's queue as an
  event, and nothing else did;
- ``outcome_labels``: the ledger's state names and the short outcome labels runs expect and report;
- ``run_summary``: the summary ``make demo`` prints.

Imports of ``local``: ``local.alipay_gateway``'s admin client only (what the emulator did to each
trade).
"""
