"""Shared test setup: every test starts in the ``siameseim`` registry scope.

mmengine keeps the current default scope in a global; a test that builds a Runner for mmdet or mmseg would
otherwise change how later tests resolve registry names.
"""
import pytest
from mmengine.registry import DefaultScope

import siameseim  # noqa: F401  (registers the suite and applies the compatibility fixes)


@pytest.fixture(autouse=True)
def siameseim_default_scope():
    with DefaultScope.overwrite_default_scope('siameseim'):
        yield
