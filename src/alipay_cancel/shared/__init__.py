"""The bottom floor: values every other part of the function shares (a trade and its request, the
ledger's states and record, a dead letter, the endings, SQS's limits). Imports nothing of the package."""
