"""Where the repository, the test data and the test flows are."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
FLOWS = DATA / "flows"
