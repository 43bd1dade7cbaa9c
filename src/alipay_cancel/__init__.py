"""Cancel timed-out Alipay payments (alipay.trade.cancel, OpenAPI v3) from SQS messages."""
