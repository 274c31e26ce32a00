"""The installed programs: every console script of the distribution loads a ``main(argv) -> int``, and
``python -m siameseim`` hands ``train``, ``test`` and ``convert`` to their programs."""
import inspect
import subprocess
import sys
from importlib.metadata import distribution

import pytest

SCRIPTS = {entry.name: entry for entry in distribution('siameseim-suite').entry_points
           if entry.group == 'console_scripts'}


def test_the_user_facing_programs_are_installed():
    assert {'siameseim', 'siameseim-train', 'siameseim-test', 'siameseim-convert', 'siameseim-verify',
            'siameseim-eval-robustness', 'siameseim-make-imagenet-c'} <= set(SCRIPTS)


@pytest.mark.parametrize('name', sorted(SCRIPTS))
def test_every_console_script_loads_a_main_taking_argv(name):
    main = SCRIPTS[name].load()
    assert callable(main) and list(inspect.signature(main).parameters) == ['argv']


def test_python_m_siameseim_dispatches_to_the_programs_under_their_own_name():
    result = subprocess.run([sys.executable, '-m', 'siameseim', 'convert', '--help'], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith('usage: python -m siameseim convert ') and '--target-encoder' in result.stdout
