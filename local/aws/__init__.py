"""The AWS stand-in: moto's server, and what moto does not run, built as ``template.yaml`` declares it.

- ``moto_atomic``: moto's server with each request processed atomically, as AWS does, and fault
  rules for the chaos run (``python -m local.aws.moto_atomic``);
- ``template_settings``, ``template_intrinsics``: the deployed settings read out of template.yaml,
  its intrinsic functions resolved against what the stand-in created;
- ``provision``: the queues, the results table and the signing secrets created with them, and the
  function's environment; ``event_routes``: the stream, bus, schedule group and example rule;
- ``esm_driver``: the SQS event source mapping driving the function (``local.lambda_runtime``);
- ``stream_publisher``, ``schedule_runner`` (on ``background``'s thread): the publisher's stream
  mapping and one-time schedules firing, which moto stores but never runs.

Imports of ``local``: ``local.lambda_runtime`` only; the stack (``local.stack``) builds on it.
"""
