"""Shared pytest fixtures for the whole test suite.

    .venv/bin/python -m pytest tests -q -p no:cacheprovider
"""

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def real_samples_dir() -> Path:
    """`<repo>/../shared/real-samples`: small byte-exact samples of the real datasets (never copied into the
    repository); tests that need it are skipped where it is absent."""
    path = Path(__file__).resolve().parents[1].parent / "shared" / "real-samples"
    if not path.is_dir():
        pytest.skip(f"real samples not found at {path} (expected <repo>/../shared/real-samples)")
    return path
