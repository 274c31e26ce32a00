"""Detection tests run in mmdet's registry scope, with the project's detection modules registered."""
import pytest
from mmengine.registry import DefaultScope

import siameseim.detection  # noqa: F401  (registers the backbone adapter, datasets and metrics into mmdet)


@pytest.fixture(autouse=True)
def mmdet_scope():
    with DefaultScope.overwrite_default_scope('mmdet'):
        yield
