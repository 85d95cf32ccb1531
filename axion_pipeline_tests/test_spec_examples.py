"""The spec's examples the tests execute are the spec's text (``spec_examples``)."""

from __future__ import annotations

import pytest

from axion_pipeline_tests.spec_examples import BLOCKS, SPEC_PATH, spec_blocks


def test_examples_are_the_specs_blocks_verbatim():
    if not SPEC_PATH.is_file():
        pytest.skip(f"spec not found at {SPEC_PATH}")
    assert [b.strip() for b in spec_blocks()] == [b.strip() for b in BLOCKS.values()]
