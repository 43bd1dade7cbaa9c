"""``make demo`` (``python -m local.demo``): the whole pipeline on this machine, no AWS account, driven
as Lambda would drive it.

1. start the local stack (moto server subprocess + Alipay gateway emulator, free loopback ports,
   throwaway keys) and create every resource with the settings read from template.yaml;
2. seed the emulator's trades and enqueue a realistic set of timed-out payments: unpaid, paid,
   unknown, addressed by trade_no, SNS-wrapped, a second Alipay app (its own secret and keys), two
   ISV merchants whose orders share one out_trade_no (two trades), finished, frozen, outside the
   cancel window, malformed, duplicates (some in the same batch), injected faults (5xx, 429, timeouts, 20000,
   ACQ.SYSTEM_ERROR, retry_flag=Y, bad / missing response signature, garbage, a merchant whose
   balance is topped up during the run, a trade that never stops failing) plus random faults;
3. drive the function with the event source mapping driver until the queue is drained, showing
   progress: each execution environment an ``awslambdaric`` process, as in Lambda
   (``local.lambda_runtime.lambda_environment``); the function's logs go to a file (its
   "CloudWatch");
4. print the summary and exit non-zero if any message is unaccounted for
   (``local.accounting.messages``).

Beside it (``local.demo.events``): every final state is published as an outcome event to the order
system's queue, and two cancels are scheduled with the producer's library, one firing during the run
and one unscheduled first; the summary's sections on both join the pass/fail.

Retry backoffs and the retry horizon are shortened through the template's own parameters (as a
deploy's parameter overrides would: the queue's maxReceiveCount and the function agree), the horizon
scaled to the number of messages (``local.demo.plan``), and the Alipay timeouts through the function's
variables, so the run ends in about a minute; everything else is the template's. The summary marks
each outcome expected or not (``local.accounting.run_summary``). If ``--deadline`` stops the run
first, the summary says so and lists what was still in flight (on the queue, not lost). The
function's log goes to .local-stack/demo/function.log (git-ignored), never to a temporary folder left
behind; Ctrl-C stops everything and says so in one line.
"""
