"""Where the checkout's non-package files are: tools/, docs/ and the README the tests read or run."""
import os.path as osp

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
