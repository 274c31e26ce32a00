"""What the HTML report reads from a suite output dir besides ``results.json``: the files in the task work dirs.

Every reader is defensive: a file that is absent or unreadable gives ``None`` (or an empty list) and the
reason, so the report shows an explained gap instead of failing. Work dirs are taken from ``results.json``
and, when that path no longer exists (the output dir was moved or copied), from ``<out>/<checkpoint>/<task>``.
"""
import glob
import json
import math
import os.path as osp
from typing import Dict, List, Mapping, NamedTuple, Optional, Tuple


class Found(NamedTuple):
    """A value read from a work dir (None when absent) and, when absent, why."""
    value: Optional[object]
    reason: str = ''


def task_entry(results: Mapping, checkpoint: str, task: str) -> Mapping:
    """The ``results.json`` entry of one (checkpoint, task) pair, ``{}`` when it is absent."""
    entry = results.get('checkpoints', {}).get(checkpoint, {})
    return entry.get('tasks', {}).get(task, {}) if isinstance(entry, Mapping) else {}


def task_state(results: Mapping, checkpoint: str, task: str) -> str:
    """Why a pair has no files to read: '' when it finished, else a sentence (not run, skipped, failed)."""
    entry = task_entry(results, checkpoint, task)
    status = entry.get('status')
    if status == 'done':
        return ''
    if status is None:
        return f'{task} was not run for {checkpoint}'
    reason = entry.get('reason')
    return f'{task} {status} for {checkpoint}' + (f': {reason}' if reason else '')


def work_dir(results: Mapping, out_dir: str, checkpoint: str, task: str) -> str:
    """The pair's work dir: the recorded one if it exists, else its place under ``out_dir``."""
    recorded = task_entry(results, checkpoint, task).get('work_dir')
    if isinstance(recorded, str) and osp.isdir(recorded):
        return recorded
    return osp.join(out_dir, checkpoint, task)


def _relocate(path: str, recorded_dir: object, folder: str) -> str:
    """A recorded file path, moved under ``folder`` when it is gone but lay under the recorded work dir."""
    if osp.isfile(path) or not isinstance(recorded_dir, str):
        return path
    relative = osp.relpath(path, recorded_dir)
    return path if relative.startswith('..') else osp.join(folder, relative)


def read_json(path: str) -> Found:
    """A JSON file (NaN allowed, as mmengine writes it), or None and why."""
    if not osp.isfile(path):
        return Found(None, f'{path} does not exist')
    try:
        with open(path) as f:
            return Found(json.load(f))
    except (OSError, ValueError) as err:
        return Found(None, f'{path} is unreadable ({type(err).__name__}: {err})')


def test_metrics(results: Mapping, out_dir: str, checkpoint: str, task: str) -> Found:
    """The raw metrics ``tools/test.py --out`` wrote for a pair, averaged over its runs (seeds) when several.

    The files are the entry's ``metric_files`` when recorded, else ``<work dir>/test_metrics.json``. Values
    that are not numbers are dropped; a key missing from some runs is averaged over the runs that have it.
    """
    state = task_state(results, checkpoint, task)
    if state:
        return Found(None, state)
    entry = task_entry(results, checkpoint, task)
    folder = work_dir(results, out_dir, checkpoint, task)
    recorded = entry.get('metric_files')
    paths = [_relocate(path, entry.get('work_dir'), folder) for path in recorded
             if isinstance(path, str)] if isinstance(recorded, list) else []
    paths = paths or [osp.join(folder, 'test_metrics.json')]
    sums: Dict[str, List[float]] = {}
    reasons = []
    for path in paths:
        found = read_json(path)
        if not isinstance(found.value, Mapping):
            reasons.append(found.reason or f'{path} does not hold a JSON object')
            continue
        for key, value in found.value.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                sums.setdefault(key, []).append(float(value))
    if not sums:
        return Found(None, '; '.join(reasons) or f'no metrics in {", ".join(paths)}')
    return Found({key: sum(values) / len(values) for key, values in sums.items()})


def robustness_results(results: Mapping, out_dir: str, checkpoint: str) -> Found:
    """The robustness task's own ``results.json`` (per-set accuracy, ImageNet-C errors per severity)."""
    state = task_state(results, checkpoint, 'robustness')
    if state:
        return Found(None, state)
    found = read_json(osp.join(work_dir(results, out_dir, checkpoint, 'robustness'), 'results.json'))
    if found.value is not None and not isinstance(found.value, Mapping):
        return Found(None, 'the robustness results.json does not hold a JSON object')
    return found


class Curve(NamedTuple):
    """One training run's logged scalars: its label (the sub-folder, e.g. a seed) and its records."""
    label: str
    train: List[dict]
    val: List[dict]


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def read_scalars(path: str) -> Tuple[List[dict], List[dict]]:
    """mmengine's ``vis_data/scalars.json`` (one JSON record a line) split into training records (those with a
    learning rate) and validation records (the others); unreadable lines are skipped."""
    train, val = [], []
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return [], []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and _is_number(record.get('step')):
            (train if 'lr' in record else val).append(record)
    return train, val


def training_curves(folder: str) -> List[Curve]:
    """Every training run logged under ``folder``: the ``*/vis_data/scalars.json`` files grouped by the
    sub-folder that holds their timestamped run dirs (``''`` for the work dir itself, ``seed0``, ...), records of
    resumed runs concatenated in time order. Runs without training records (test-only) are left out."""
    groups: Dict[str, Curve] = {}
    for path in sorted(glob.glob(osp.join(folder, '**', 'vis_data', 'scalars.json'), recursive=True)):
        run_dir = osp.dirname(osp.dirname(path))
        label = osp.relpath(osp.dirname(run_dir), folder)
        label = '' if label == '.' else label
        train, val = read_scalars(path)
        curve = groups.setdefault(label, Curve(label, [], []))
        curve.train.extend(train)
        curve.val.extend(val)
    return [curve for curve in groups.values() if curve.train]
