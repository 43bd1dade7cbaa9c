"""One module per command. Each has ``NAME``, ``SUMMARY`` (one line for ``--help``), ``configure(parser)``
(its own options) and ``run(args, console) -> ExitCode``; ``alipay_cancel_ops.cli.COMMANDS`` lists them."""
