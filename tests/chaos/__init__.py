"""The chaos suite: the daemon against fake exchanges with seeded faults and SIGKILLs.

``python -m tests.chaos`` (``make chaos``) runs it; see :mod:`tests.chaos.__main__`.
"""
