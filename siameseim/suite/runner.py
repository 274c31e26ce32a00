"""Run a list of tasks for several checkpoints, resumably, collecting metrics into ``results.json``.

Every (checkpoint, task) pair gets its own work dir ``<out>/<checkpoint>/<task>/``. The results file is
rewritten atomically after each pair, so an interrupted suite continues where it stopped: finished pairs
are not run again, pairs whose data was missing, or that failed, are tried again. A task that fails is
recorded with its error and the suite goes on with the others.

Every result carries its provenance (:mod:`.provenance`): per checkpoint the sha256, format and architecture
of its file; per task the config file (path + sha256), seeds, wall time, device, the file the metrics were
read from and the backbone's load report; per invocation (``runs``) date, code version, libraries and host.
A name already recorded from another checkpoint file is refused before anything is written.
"""
import json
import os
import os.path as osp
import time
from typing import List, Mapping, Sequence

from ..atomic import write_text_atomically
from ..benchmark import SuiteCheckpoint, SuiteContext, Task, TaskResult
from ..checkpoint import read_checkpoint
from .provenance import check_same_checkpoint, checkpoint_provenance, device_name, file_sha256, run_provenance

RESULTS_FILE = 'results.json'
# Where this code runs from: a checkout (provenance records its git commit) or site-packages (the version).
CODE_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def load_results(out_dir: str) -> dict:
    path = osp.join(out_dir, RESULTS_FILE)
    if not osp.isfile(path):
        return {'checkpoints': {}}
    with open(path) as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f'{path} is not valid JSON ({err}): move it away to start the suite over') from err


def save_results(out_dir: str, results: Mapping) -> str:
    """Write ``results.json`` atomically, so an interrupt never leaves half a file."""
    path = osp.join(out_dir, RESULTS_FILE)
    write_text_atomically(path, json.dumps(results, indent=2))
    return path


def _task_record(result: TaskResult, work_dir: str, seconds: float, device: str, run: int) -> dict:
    """The ``results.json`` entry of a finished task (string metrics become ``notes``, None ones are left out)."""
    notes = {key: value for key, value in result.metrics.items() if isinstance(value, str)}
    metrics = {key: float(value) for key, value in result.metrics.items() if value is not None and key not in notes}
    record = {'status': 'done', 'metrics': metrics, 'work_dir': work_dir, 'seconds': round(seconds, 1),
              'run': run, 'device': device, 'seeds': list(result.seeds)}
    if notes:
        record['notes'] = notes
    if result.runs:
        record['runs'] = {key: [float(value) for value in values] for key, values in result.runs.items()}
    if result.configs:
        record['configs'] = [{'path': path, 'sha256': file_sha256(path)} for path in result.configs]
    if result.metric_files:
        record['metric_files'] = list(result.metric_files)
    if result.load_report is not None:
        record['load_report'] = result.load_report
    return record


def _device(ctx: SuiteContext) -> str:
    """Where the tasks of this context compute, in words."""
    import torch

    local = device_name(str(ctx.extra.get('device') or ('cuda' if torch.cuda.is_available() else 'cpu')))
    return local if ctx.launcher == 'none' else f'{ctx.gpus} process(es) via {ctx.launcher} (launched from {local})'


def run_suite(checkpoints: Sequence[SuiteCheckpoint], tasks: Sequence[Task], ctx: SuiteContext) -> dict:
    """Run every task for every checkpoint, skipping finished pairs; returns the results.

    Raises ValueError, before writing anything, when a checkpoint name of ``results.json`` was recorded
    from another file.
    """
    os.makedirs(ctx.out_dir, exist_ok=True)
    results = load_results(ctx.out_dir)
    identities = {c.name: checkpoint_provenance(c.path, ctx.out_dir) for c in checkpoints}
    for checkpoint in checkpoints:
        check_same_checkpoint(checkpoint.name, results['checkpoints'].get(checkpoint.name, {}), checkpoint.path,
                              identities[checkpoint.name]['sha256'])
    runs = results.setdefault('runs', [])
    runs.append(run_provenance(CODE_ROOT))
    run, device = len(runs) - 1, _device(ctx)
    total = len(checkpoints) * len(tasks)
    done_before = 0
    for index, (checkpoint, task) in enumerate(((c, t) for c in checkpoints for t in tasks), start=1):
        entry = results['checkpoints'].setdefault(checkpoint.name, {'tasks': {}})
        entry.update(path=checkpoint.path, arch=checkpoint.arch, **identities[checkpoint.name])
        state = entry['tasks'].get(task.name, {})
        prefix = f'[suite {index}/{total}] {checkpoint.name} / {task.name}'
        if state.get('status') == 'done':
            done_before += 1
            ctx.log(f'{prefix}: done in an earlier run, kept')
            continue
        finished = {name: value for name, value in entry['tasks'].items() if value.get('status') == 'done'}
        unmet = [name for name in task.requires if name not in finished]
        reason = task.missing_data(ctx) or (
            f'needs the {", ".join(unmet)} task(s) first' if unmet else None)
        if reason:
            ctx.log(f'{prefix}: skipped: {reason}')
            entry['tasks'][task.name] = {'status': 'skipped', 'reason': reason}
            save_results(ctx.out_dir, results)
            continue
        work_dir = osp.join(ctx.out_dir, checkpoint.name, task.name)
        os.makedirs(work_dir, exist_ok=True)
        ctx.log(f'{prefix}: running in {work_dir}')
        start = time.time()
        try:
            result = task.run(checkpoint, work_dir, ctx, finished)
        except Exception as err:
            reason = (str(err).strip().splitlines() or [''])[0]
            reason = f'{type(err).__name__}: {reason}'
            ctx.log(f'{prefix}: FAILED: {reason} (work dir {work_dir}); the suite goes on, a re-run retries it')
            entry['tasks'][task.name] = {'status': 'failed', 'reason': reason, 'work_dir': work_dir}
            save_results(ctx.out_dir, results)
            continue
        result = result if isinstance(result, TaskResult) else TaskResult(metrics=dict(result))
        record = _task_record(result, work_dir, time.time() - start, device, run)
        entry['tasks'][task.name] = record
        for key, note in record.get('notes', {}).items():
            ctx.log(f'{prefix}: no {key}: {note}')
        save_results(ctx.out_dir, results)
        ctx.log(f'{prefix}: done in {time.time() - start:.0f} s: '
                + ', '.join(f'{key} {value:.2f}' for key, value in record['metrics'].items()))
    if done_before:
        ctx.log(f'[suite] {done_before} of {total} task runs were finished before and not repeated')
    return results


def parse_checkpoint_args(specs: Sequence[str], default_arch: str) -> List[SuiteCheckpoint]:
    """``NAME=PATH`` (or a bare PATH, named after the file; ``NAME=random`` for random initialisation).

    Each file is read once here, so an unreadable checkpoint or one holding NaN/inf stops the suite before any
    task runs, with one line naming it (:class:`~siameseim.checkpoint.CheckpointError`).
    """
    checkpoints = []
    for spec in specs:
        name, _, path = spec.rpartition('=')
        name = name or osp.splitext(osp.basename(path))[0]
        if path != 'random' and not osp.isfile(path):
            raise FileNotFoundError(f'checkpoint {path} of {name!r} does not exist: pass NAME=PATH with an existing '
                                    f'file, or NAME=random for a randomly initialised baseline')
        if path != 'random':
            read_checkpoint(path)
        checkpoints.append(SuiteCheckpoint(name, None if path == 'random' else path, default_arch))
    names = [checkpoint.name for checkpoint in checkpoints]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f'checkpoint names must be unique, {", ".join(duplicates)} repeats: name them NAME=PATH')
    return checkpoints
