"""Package list: the core ``siameseim`` plus the task folders installed under its namespace.

The repository keeps one top-level folder per task (``pretrain/``, ``detection/``, ``segmentation/``,
``robustness/``) but installs them as ``siameseim.pretrain`` and so on, so the distribution owns no top-level
import name but ``siameseim`` (``detection``, ``segmentation`` and ``robustness`` are other distributions'
names on the package index). Metadata and dependencies live in setup.cfg.
"""
from setuptools import find_packages, setup

TASK_FOLDERS = ('pretrain', 'detection', 'segmentation', 'robustness')

packages = find_packages(include=['siameseim', 'siameseim.*'])
for folder in TASK_FOLDERS:
    packages += [f'siameseim.{name}' for name in find_packages(include=[folder, f'{folder}.*'])]

setup(packages=packages, package_dir={f'siameseim.{folder}': folder for folder in TASK_FOLDERS})
