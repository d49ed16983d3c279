"""Kept only for tests/scheduling/support.py: everything here now lives in tests/support/.

Import from :mod:`tests.support.people` instead; delete this file once nothing imports it.
"""

from __future__ import annotations

from tests.support.people import Person

__all__ = ["Person"]
