"""Shared test setup: every test starts in the ``siameseim`` registry scope and leaves the global random
generators as it found them.

mmengine keeps the current default scope in a global; a test that builds a Runner for mmdet or mmseg would
otherwise change how later tests resolve registry names. Likewise a test that seeds torch, numpy or ``random``
would otherwise fix the random stream of every later test.
"""
import random

import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope

import siameseim  # noqa: F401  (registers the suite and applies the compatibility fixes)


@pytest.fixture(scope='module', autouse=True)
def module_default_scope():
    """The default scope as it was before the module: a module-scoped fixture that builds a Runner (which
    makes its config's scope, e.g. ``mmseg``, the current one) runs before any test's own scope fixture."""
    saved = DefaultScope._instance_dict.copy()
    yield
    DefaultScope._instance_dict = saved


@pytest.fixture(autouse=True)
def siameseim_default_scope():
    with DefaultScope.overwrite_default_scope('siameseim'):
        yield


@pytest.fixture(autouse=True)
def restore_global_random_state():
    """Seeding inside a test is fine: the generators of torch, numpy and ``random`` are restored after it."""
    states = torch.random.get_rng_state(), np.random.get_state(), random.getstate()
    yield
    torch.random.set_rng_state(states[0])
    np.random.set_state(states[1])
    random.setstate(states[2])
