"""Check that this Python can run SiameseIM Suite: see :mod:`siameseim.cli.verify_install`.

    python tools/verify_install.py [--check mmcv] [--quiet]

Installed, the same program is ``siameseim-verify``. Unlike the other tools this one runs the module's file
instead of importing it: ``tools/install.sh`` checks mmcv before the project is installed, and importing the
``siameseim`` package needs torch and mmengine, which are among the things the checks diagnose.
"""
import os.path as osp
import runpy

if __name__ == '__main__':
    runpy.run_path(osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'siameseim', 'cli', 'verify_install.py'),
                   run_name='__main__')
