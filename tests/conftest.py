"""Shared pytest fixtures for minigrad's tests (keep this small; each helper adds only what it shares)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import minigrad as mg

# CI clones the repository beside shared/ (data and the API contract), so look next to the repo.
SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture
def shared_dir() -> Path:
    """The shared directory beside the repository; the test is skipped when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"needs the shared directory at {SHARED}")
    return SHARED


@pytest.fixture
def float64_default() -> Iterator[None]:
    """Run a test with float64 as the default dtype, restoring the previous default afterwards."""
    previous = mg.get_default_dtype()
    mg.set_default_dtype("float64")
    try:
        yield
    finally:
        mg.set_default_dtype(previous)
