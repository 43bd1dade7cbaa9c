"""The Lambda stand-in: the function's execution environments on this machine, as Lambda runs them.

- ``runtime_api``: the Lambda Runtime API of one execution environment, over HTTP on 127.0.0.1;
- ``lambda_environment``: execution environments as ``awslambdaric`` processes against it, cold
  start, reuse while warm, SIGKILL at the function timeout, at most ``MaximumConcurrency`` at once;
- ``in_process``: the function run in the calling process instead (fast tests of logic, benchmarks);
- ``function_log``: the function's JSON log lines, one short line per record for a terminal.

It imports nothing else of ``local``: the AWS stand-in (``local.aws``) and the stack build on it.
"""
