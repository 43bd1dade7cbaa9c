"""Mutation testing of the decision core (``make mutation``; docs/mutation-testing.md).

``modules.toml`` lists the modules and the fast tests each one's mutants run against; functions are
mutated by mutmut, top-level constants (the code tables) by ``tables``; ``equivalents.toml`` lists the
survivors that cannot change behaviour, and ``verdicts`` says which survivors only change wording.
"""
