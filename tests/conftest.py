import os

from hypothesis import settings

# Fixture modules live in tests/fixtures/, one per concern, so they can be shared across test files.
pytest_plugins = [
    "tests.fixtures.keys",
    "tests.fixtures.gateway",
    "tests.fixtures.aws",
    "tests.fixtures.aws_calls",
    "tests.fixtures.ops_cli",
]


# Hypothesis: `make test` runs are deterministic (derandomize: the same examples every run, derived
# from each test itself; no example database), so a red run is a real finding that the next run
# reproduces, never sampling luck. `HYPOTHESIS_PROFILE=explore` searches freshly and longer by hand.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", max_examples=2000, derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
