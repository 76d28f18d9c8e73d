"""Helpers shared by the tests, each defined once.

- ``net``: a free loopback port.
- ``db``: one-off queries (``scalar``, ``rows``) against a test database.
- ``wait``: bounded polling until a condition holds, for plain, trio and Textual tests.
- ``auth``: the admin token a daemon under test accepts.
- ``cli``: the ``eventdedup`` command line and a clean environment to run it in.
- ``pipeline``: the daemon's ``FileProcessor``, for tests that drive it without a daemon.
"""
