# Fixture modules live in tests/fixtures/, one per concern, so they can be shared across test files.
pytest_plugins = [
    "tests.fixtures.keys",
    "tests.fixtures.gateway",
    "tests.fixtures.aws",
    "tests.fixtures.aws_calls",
]
