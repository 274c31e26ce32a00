"""``report.html``: one self-contained page per suite run, built from ``results.json`` and the task work dirs.

Re-generated at any time without running anything (``python -m siameseim report OUT_DIR``). It holds the
paper-style table (the very cells of ``results.md``) with the provenance of every number, ImageNet-C per
corruption and severity, effective robustness, LVIS AP by frequency group, COCO AP by object size, the
ADE20k classes that differ most, the training curves of every run and the test predictions the detection and
segmentation runs drew. Whatever a run lacks (a task skipped, a metric not logged) is shown as an explained
gap: the report never fails on a partial suite.
"""
import math
import os
import os.path as osp
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from . import report_html as H
from . import report_plots as plots
from .columns import COLUMNS, PAPER_ROWS
from .report_data import Found, robustness_results, task_state, test_metrics, training_curves, work_dir
from ..atomic import write_text_atomically
from ..benchmark import PREDICTIONS_DIR
from .runner import RESULTS_FILE, load_results
from .table import table_rows, to_markdown

REPORT_FILE = 'report.html'
SEVERITIES = ('1', '2', '3', '4', '5')
# The validation metric of each task's training log (mmengine's scalars.json keys).
VAL_METRICS = {'finetune': 'imagenet/top1', 'linear': 'imagenet/top1', 'coco': 'coco/bbox_mAP',
               'lvis': 'lvis/bbox_AP', 'ade20k': 'mIoU'}
TOP_CLASSES = 20
SNAPSHOTS = 4
PROVENANCE_KEYS = ('status', 'reason', 'seconds', 'device', 'seeds', 'runs', 'configs', 'metric_files', 'work_dir')


def _checkpoints(results: Mapping) -> List[str]:
    checkpoints = results.get('checkpoints', {})
    return list(checkpoints) if isinstance(checkpoints, Mapping) else []


def _number(value: object) -> Optional[float]:
    """A finite float, or None (absent, not a number, NaN, or the -1 COCO/LVIS write for 'no ground truth')."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        return None
    return float(value)


def _compact(value: object) -> str:
    """A provenance value as short text: config lists as 'path (sha256 prefix)', lists and mappings inline."""
    if isinstance(value, list) and value and all(isinstance(item, Mapping) and 'path' in item for item in value):
        return '; '.join(f"{item['path']}" + (f" (sha256 {str(item['sha256'])[:12]})" if item.get('sha256') else '')
                         for item in value)
    if isinstance(value, (list, tuple)):
        return ', '.join('–' if item is None else _compact(item) for item in value)
    if isinstance(value, Mapping):
        return '{' + '; '.join(f'{key}: {_compact(item)}' for key, item in value.items()) + '}'
    if isinstance(value, float):
        return f'{value:g}'
    return str(value)


def table_section(results: Mapping, baseline: Optional[str]) -> str:
    """The paper-style table (the cells of ``results.md``) and where every measured number comes from."""
    parts = [H.markdown_table(to_markdown(results, baseline=baseline))]
    runs = results.get('runs')
    if isinstance(runs, list) and runs:
        keys = list(dict.fromkeys(key for run in runs if isinstance(run, Mapping) for key in run))
        parts.append('<h3>Suite runs</h3>' + H.table(
            keys, [[_compact(run.get(key)) for key in keys] for run in runs if isinstance(run, Mapping)], text=True))
    else:
        parts.append(H.gap('results.json records no environment of the runs (date, commit, library versions): '
                           'suites written before provenance was recorded lack it'))
    rows = []
    for name in _checkpoints(results):
        entry = results['checkpoints'][name]
        if not isinstance(entry, Mapping):
            continue
        extra = {key: value for key, value in entry.items() if key != 'tasks'}
        rows.append([name, '(checkpoint)', '', _compact(extra)])
        for task, state in (entry.get('tasks') or {}).items():
            if isinstance(state, Mapping):
                known = '; '.join(f'{key}: {_compact(state[key])}' for key in PROVENANCE_KEYS[2:] if key in state)
                other = {key: value for key, value in state.items()
                         if key not in PROVENANCE_KEYS and key != 'metrics'}
                rows.append([name, task, state.get('status', '?') + (f" ({state['reason']})" if state.get('reason')
                                                                      else ''),
                             known + (f'; {_compact(other)}' if other else '')])
    parts.append('<h3>Provenance of every number</h3>' +
                 H.table(['checkpoint', 'task', 'status', 'source (work dir, configs, metric files, seeds, ...)'],
                         rows, text=True))
    return '\n'.join(parts)


def imagenet_c_section(results: Mapping, out_dir: str) -> str:
    """CE per corruption (bars grouped by checkpoint) and top-1 error against severity (a line each)."""
    parts, ce, by_severity, summary = [], {}, {}, []
    corruptions: List[str] = []
    for name in _checkpoints(results):
        found = robustness_results(results, out_dir, name)
        c = found.value.get('imagenet-c') if isinstance(found.value, Mapping) else None
        if not isinstance(c, Mapping) or not isinstance(c.get('errors'), Mapping):
            parts.append(H.gap(f'ImageNet-C of {name}: ' + (found.reason or 'the robustness results hold no '
                                                                             'ImageNet-C errors (no imagenet-c set '
                                                                             'under the data root)')))
            continue
        errors = c['errors']
        corruptions += [key for key in errors if key not in corruptions]
        ce[name] = c.get('ce') if isinstance(c.get('ce'), Mapping) else {}
        means = []
        for severity in SEVERITIES:
            values = [_number(by_s.get(severity)) for by_s in errors.values() if isinstance(by_s, Mapping)]
            values = [value for value in values if value is not None]
            means.append(sum(values) / len(values) if values else None)
        imagenet = found.value.get('imagenet')
        clean = imagenet.get('top1') if isinstance(imagenet, Mapping) else None
        by_severity[name] = [None if _number(clean) is None else 100.0 - clean] + means
        summary.append([name, _fmt(c.get('mce')), _fmt(c.get('one_minus_mce')), _fmt(c.get('relative_mce')),
                        ', '.join(c.get('missing_corruptions') or []) or 'none'])
        if c.get('mce_gap'):
            parts.append(H.gap(f'mCE of {name} not computed: {c["mce_gap"]}'))
    if not by_severity:
        return '\n'.join(parts)
    parts.insert(0, H.table(['checkpoint', 'mCE (AlexNet = 100)', '1 − mCE', 'relative mCE', 'missing corruptions'],
                            summary))
    if any(ce.values()):
        parts.append(H.figure(plots.grouped_bars(
            [('Corruption error (CE, AlexNet = 100; lower is better)',
              {name: [_number(values.get(key)) for key in corruptions] for name, values in ce.items()})],
            corruptions, 'CE', width=16), 'ImageNet-C corruption error per corruption and checkpoint'))
    else:
        parts.append(H.gap('no per-corruption CE in the robustness results'))
    parts.append(H.figure(plots.lines([0, 1, 2, 3, 4, 5], by_severity, 'severity (0 = clean ImageNet val)',
                                      'top-1 error (%), mean over corruptions', 'ImageNet-C error against severity'),
                          'ImageNet-C error against severity'))
    return '\n'.join(parts)


def _fmt(value: object) -> str:
    number = _number(value)
    return '–' if number is None else f'{number:.2f}'


def effective_robustness_section(results: Mapping) -> str:
    """ImageNet-A/R/Sketch accuracy against ImageNet accuracy, measured checkpoints and the paper's rows."""
    rows = table_rows(results)
    panels, gaps = [], []
    for header in ('IN-A', 'IN-R', 'IN-Sketch'):
        points = [(row['name'], row['FT'], row[header], row['source'] == 'paper') for row in rows
                  if row.get('FT') is not None and row.get(header) is not None]
        if any(not paper for *_, paper in points):
            panels.append((header, points))
        else:
            gaps.append(header)
    parts = [H.gap(f'{", ".join(gaps)}: no measured checkpoint has both fine-tuning top-1 and this set '
                   f'(the finetune or robustness task did not run, or the set is absent from the data root)')] \
        if gaps else []
    if panels:
        parts.insert(0, H.figure(plots.effective_robustness(panels),
                                 'out-of-distribution against ImageNet top-1 accuracy'))
        parts.insert(0, '<p class="note">Each point is a model: ImageNet val top-1 after fine-tuning (x) and '
                        'top-1 on the shifted set (y). Grey squares are the paper\'s ViT-B/16 rows, the reference '
                        'points; the dotted line is y = x. A checkpoint above the trend of the reference points is '
                        'more robust than its ImageNet accuracy predicts.</p>')
    return '\n'.join(parts)


def _metric_bars(results: Mapping, out_dir: str, task: str, groups: Sequence[Tuple[str, str]],
                 kinds: Sequence[Tuple[str, str]], what: str, ylabel: str) -> str:
    """Bars of raw test metrics ``<kind><suffix>`` per group label, one panel per kind, and their table."""
    values: Dict[str, Dict[str, List[Optional[float]]]] = {kind: {} for kind, _ in kinds}
    parts, table_rows_ = [], []
    for name in _checkpoints(results):
        found: Found = test_metrics(results, out_dir, name, task)
        if found.value is None:
            parts.append(H.gap(f'{what} of {name}: {found.reason}'))
            continue
        for kind, prefix in kinds:
            row = [None if (v := _number(found.value.get(prefix + suffix))) is None else 100.0 * v
                   for _, suffix in groups]
            values[kind][name] = row
            table_rows_.append([name, kind] + ['–' if v is None else f'{v:.2f}' for v in row])
    if not table_rows_:
        return '\n'.join(parts)
    labels = [label for label, _ in groups]
    parts.insert(0, H.table(['checkpoint', 'kind'] + labels, table_rows_))
    parts.insert(1, H.figure(plots.grouped_bars([(kind, series) for kind, series in values.items()], labels, ylabel),
                             f'{what} per checkpoint'))
    if any(cell == '–' for row in table_rows_ for cell in row[2:]):
        parts.append('<p class="note">– : the metric is absent or undefined (-1: the val set has no ground truth '
                     'in that group).</p>')
    return '\n'.join(parts)


def lvis_section(results: Mapping, out_dir: str) -> str:
    """LVIS v1 box and mask AP by category frequency group (rare, common, frequent)."""
    return _metric_bars(results, out_dir, 'lvis', [('APr', '_APr'), ('APc', '_APc'), ('APf', '_APf'), ('AP', '_AP')],
                        [('box', 'lvis/bbox'), ('mask', 'lvis/segm')], 'LVIS AP by frequency group', 'AP (%)')


def coco_section(results: Mapping, out_dir: str) -> str:
    """COCO box and mask AP by object size (small, medium, large)."""
    return _metric_bars(results, out_dir, 'coco', [('AP_s', '_mAP_s'), ('AP_m', '_mAP_m'), ('AP_l', '_mAP_l'),
                                                   ('AP', '_mAP')],
                        [('box', 'coco/bbox'), ('mask', 'coco/segm')], 'COCO AP by object size', 'AP (%)')


def ade20k_section(results: Mapping, out_dir: str, baseline: Optional[str]) -> str:
    """The ``TOP_CLASSES`` classes whose IoU differs most between the best checkpoint and the baseline."""
    per_class, gaps = {}, []
    for name in _checkpoints(results):
        found = test_metrics(results, out_dir, name, 'ade20k')
        if found.value is None:
            gaps.append(H.gap(f'ADE20k of {name}: {found.reason}'))
            continue
        ious = {key[len('IoU.'):]: value for key, value in found.value.items() if key.startswith('IoU.')}
        if not ious:
            gaps.append(H.gap(f'ADE20k of {name}: the test metrics hold no per-class IoU (IoU.<class> keys, written '
                              f'by segmentation.evaluation.ClassIoUMetric with per_class=True)'))
            continue
        per_class[name] = (found.value.get('mIoU'), ious)
    if len(per_class) < 2:
        return '\n'.join(gaps + [H.gap('per-class differences need the per-class IoU of two checkpoints, '
                                       f'{len(per_class)} {"has" if len(per_class) == 1 else "have"} it')])
    if baseline in per_class:
        reference, how = baseline, 'the baseline'
    else:
        reference = min(per_class, key=lambda name: _number(per_class[name][0]) or 0.0)
        how = 'the lowest-mIoU checkpoint (no measured baseline was given)'
    best = max((name for name in per_class if name != reference), key=lambda name: _number(per_class[name][0]) or 0.0)
    ours, theirs = per_class[best][1], per_class[reference][1]
    deltas = [(cls, ours[cls] - theirs[cls], ours[cls], theirs[cls]) for cls in ours
              if _number(ours.get(cls)) is not None and _number(theirs.get(cls)) is not None]
    if not deltas:
        return '\n'.join(gaps + [H.gap(f'no ADE20k class has an IoU for both {best} and {reference} (every shared '
                                       f'class is NaN: absent from predictions and annotations)')])
    deltas = sorted(deltas, key=lambda item: -abs(item[1]))[:TOP_CLASSES]
    same = '' if any(delta for _, delta, _, _ in deltas) else ' Every class scored by both has the same IoU.'
    intro = (f'<p class="note">{H.esc(best)} (best other mIoU) against {H.esc(reference)}, {H.esc(how)}: the '
             f'{len(deltas)} classes with the largest IoU difference (classes NaN in either are left out).{same}</p>')
    chart = H.figure(plots.class_differences([d[0] for d in deltas], [d[1] for d in deltas],
                                             f'IoU {best} − {reference}'), 'ADE20k per-class IoU differences')
    rows = [[cls, f'{a:.2f}', f'{b:.2f}', f'{delta:+.2f}'] for cls, delta, a, b in deltas]
    return '\n'.join([intro, chart, H.table(['class', f'IoU {best}', f'IoU {reference}', 'difference'], rows)] + gaps)


def _series(records: Sequence[dict], key: str, x: Callable[[dict], float] = lambda record: record['step']
            ) -> Tuple[List[float], List[float]]:
    kept = [(x(record), float(record[key])) for record in records
            if isinstance(record.get(key), (int, float)) and math.isfinite(record[key])]
    return [step for step, _ in kept], [value for _, value in kept]


def _val_iteration(train: Sequence[dict]) -> Callable[[dict], float]:
    """The iteration of a validation record: epoch-based runs log validation with the epoch as its step, so it
    maps to the last training iteration of that epoch; iteration-based runs log the iteration itself."""
    last_iter = {record['epoch']: record['step'] for record in train if 'epoch' in record}
    return lambda record: last_iter.get(record['step'], record['step']) if last_iter else record['step']


def training_section(results: Mapping, out_dir: str) -> str:
    """Loss, learning rate and validation metric of every task run, one small-multiples figure per task."""
    parts = []
    tasks = list(dict.fromkeys(task for name in _checkpoints(results)
                               for task in (results['checkpoints'][name].get('tasks') or {})))
    pretrain = osp.join(out_dir, 'pretrain')
    sources = [('pretraining', [('', pretrain)])] if osp.isdir(pretrain) else []
    sources += [(task, [(name, work_dir(results, out_dir, name, task)) for name in _checkpoints(results)
                        if not task_state(results, name, task)]) for task in tasks]
    for task, runs in sources:
        if not runs:
            parts.append(H.gap(f'{task}: no checkpoint finished this task, so no run to plot'))
            continue
        panels: Dict[str, Dict[str, Tuple[List[float], List[float]]]] = {'loss': {}, 'lr': {}}
        metric = VAL_METRICS.get(task)
        if metric:
            panels[f'val {metric}'] = {}
        for name, folder in runs:
            for curve in training_curves(folder):
                label = ' '.join(part for part in (name, curve.label) if part) or 'run'
                for quantity in ('loss', 'lr'):
                    steps, values = _series(curve.train, quantity)
                    if steps:
                        panels[quantity][label] = (steps, values)
                if metric:
                    steps, values = _series(curve.val, metric, _val_iteration(curve.train))
                    if steps:
                        panels[f'val {metric}'][label] = (steps, values)
        shown = [(quantity, series) for quantity, series in panels.items() if series]
        if not panels['loss'] and not panels['lr']:
            parts.append(H.gap(f'{task}: no training run logged scalars (vis_data/scalars.json) in its work dirs: '
                               + _why_no_curves(task)))
            continue
        missing = [quantity for quantity, series in panels.items() if not series]
        parts.append(H.figure(plots.training_panels(task, shown), f'training curves of {task}'))
        if missing:
            parts.append(H.gap(f'{task}: {", ".join(missing)} never logged (validation runs only every '
                               f'val_interval; a run shorter than that logs no validation metric)'))
    return '\n'.join(parts) or H.gap('no task ran, so there are no training logs')


def _why_no_curves(task: str) -> str:
    if task in ('fewshot', 'knn', 'robustness'):
        return 'this task trains no network with mmengine (frozen features or test-only)'
    return ('the run was shorter than the logger interval, or the work dir was moved without its '
            'timestamped log folders')


def qualitative_section(results: Mapping, out_dir: str) -> str:
    """The test images the detection and segmentation runs drew (ground truth | prediction), checkpoints side by
    side, the first ``SNAPSHOTS`` images of each task."""
    parts = []
    for task, drawer in (('coco', "mmdet's DetLocalVisualizer"), ('lvis', "mmdet's DetLocalVisualizer"),
                         ('ade20k', "mmseg's SegLocalVisualizer")):
        names = [name for name in _checkpoints(results) if not task_state(results, name, task)]
        images = {name: predictions(work_dir(results, out_dir, name, task)) for name in names}
        shown = sorted({image for files in images.values() for image in files})[:SNAPSHOTS]
        if not shown:
            parts.append(H.gap(f'{task}: no drawn predictions in the work dirs (<work dir>/{PREDICTIONS_DIR}/): the '
                               f'task did not finish, or ran before the suite saved them'))
            continue
        rows = [[image] + [H.image_file(images[name][image], f'{task} {image} {name}') if image in images[name]
                           else None for name in names] for image in shown]
        parts.append(f'<h3>{H.esc(task)}</h3><p class="note">Each cell: ground truth (left) and prediction (right), '
                     f'drawn by {H.esc(drawer)} in the test loop.</p>' + H.table(['image'] + names, rows, text=True))
    return '\n'.join(parts)


def predictions(folder: str) -> Dict[str, str]:
    """The drawn test images of a work dir, by file name."""
    path = osp.join(folder, PREDICTIONS_DIR)
    files = sorted(os.listdir(path)) if osp.isdir(path) else []
    return {name: osp.join(path, name) for name in files if name.lower().endswith(('.png', '.jpg', '.jpeg'))}


def build_report(out_dir: str, baseline: Optional[str] = None) -> str:
    """Write ``out_dir/report.html`` (temp file + rename) from ``results.json`` and the work dirs; returns its
    path. Raises FileNotFoundError without a ``results.json`` and ValueError for an unknown baseline."""
    if not osp.isfile(osp.join(out_dir, RESULTS_FILE)):
        raise FileNotFoundError(f'{osp.join(out_dir, RESULTS_FILE)} does not exist: pass the --out folder of a '
                                f'bench or demo run')
    results = load_results(out_dir)
    names = list(PAPER_ROWS) + _checkpoints(results)
    if baseline is not None and baseline not in names:
        raise ValueError(f'baseline {baseline!r} is not a row of the table: choose one of {", ".join(names)}')
    builders: List[Tuple[str, str, Callable[[], str]]] = [
        ('table', 'Paper-style table and provenance', lambda: table_section(results, baseline)),
        ('imagenet-c', 'ImageNet-C: corruption error and severity', lambda: imagenet_c_section(results, out_dir)),
        ('effective-robustness', 'Effective robustness: ImageNet-A/R/Sketch against ImageNet',
         lambda: effective_robustness_section(results)),
        ('lvis', 'LVIS v1: AP by frequency group', lambda: lvis_section(results, out_dir)),
        ('coco', 'COCO: AP by object size', lambda: coco_section(results, out_dir)),
        ('ade20k', f'ADE20k: the {TOP_CLASSES} largest per-class IoU differences',
         lambda: ade20k_section(results, out_dir, baseline)),
        ('training', 'Training curves', lambda: training_section(results, out_dir)),
        ('qualitative', 'Qualitative predictions', lambda: qualitative_section(results, out_dir)),
    ]
    sections = []
    for anchor, title, build in builders:
        try:
            body = build()
        except (KeyError, TypeError, ValueError, AttributeError, OSError) as err:
            body = H.gap(f'this section could not be built from the files of the run ({type(err).__name__}: {err})')
        sections.append((anchor, title, body))
    checkpoints = ', '.join(_checkpoints(results)) or 'none'
    intro = (f'<p>Suite output <code>{H.esc(osp.abspath(out_dir))}</code>; checkpoints: {H.esc(checkpoints)}; '
             f'{len(COLUMNS)} table columns. Built from results.json and the task work dirs only; every chart is '
             f'embedded, the page needs no network.</p>')
    document = H.page('SiameseIM suite report', intro, sections)
    path = osp.join(out_dir, REPORT_FILE)
    write_text_atomically(path, document)
    return path
