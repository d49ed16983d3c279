"""The one base of every error whose message is written for the person who asked.

A flow file that does not load, a staff or case command refused, an export of an
unknown case, a database role that cannot be set up, a demo that cannot start: each
says what went wrong and what to do, in one message. The command line prints it and
exits 1 (``cli/_common.py``); nothing else needs to know the concrete class.
"""

from __future__ import annotations


class RefusedError(Exception):
    """A request that cannot be done as asked; ``str(error)`` says why and what to do."""


__all__ = ["RefusedError"]
