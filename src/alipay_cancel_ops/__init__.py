"""The operator CLI, installed as the ``alipay-cancel`` command (``pip install .``): enqueue a cancel, read
a trade's result, inspect, redrive and discard dead letters. Not part of the Lambda artifact
(``src/Makefile`` ships ``alipay_cancel`` only)."""
