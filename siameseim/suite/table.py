"""The paper-style comparison table, as Markdown and CSV, from a suite's ``results.json``.

``results.json`` holds, per checkpoint name, per task, the metrics that task produced
(``{'checkpoints': {name: {'tasks': {task: {'metrics': {...}}}}}}``). Rows are the paper's reference rows
(marked "paper", ViT-B/16, 1600 epochs except MoCo-v3's 300) followed by the measured checkpoints; measured
cells carry their difference to a chosen baseline row. A metric measured over several seeds (its task entry's
``runs``) shows as ``mean ± std`` (sample standard deviation) in the Markdown table.
"""
import csv
import io
import statistics
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from .columns import COLUMNS, PAPER_ROWS

MISSING = '–'


def measured_rows(results: Mapping) -> Dict[str, Dict[str, Optional[float]]]:
    """Per checkpoint, the value of every column (None where the task did not run or lacks the metric)."""
    rows = {}
    for name, entry in results.get('checkpoints', {}).items():
        tasks = entry.get('tasks', {})
        row = {}
        for column in COLUMNS:
            value = tasks.get(column.task, {}).get('metrics', {}).get(column.metric)
            row[column.header] = None if value is None else float(value)
        rows[name] = row
    return rows


def measured_spread(results: Mapping) -> Dict[str, Dict[str, Tuple[float, int]]]:
    """Per checkpoint, ``(std, number of runs)`` of every column measured more than once."""
    spread: Dict[str, Dict[str, Tuple[float, int]]] = {}
    for name, entry in results.get('checkpoints', {}).items():
        tasks = entry.get('tasks', {})
        spread[name] = {}
        for column in COLUMNS:
            values = tasks.get(column.task, {}).get('runs', {}).get(column.metric, [])
            if len(values) > 1:
                spread[name][column.header] = (statistics.stdev(values), len(values))
    return spread


def table_rows(results: Mapping, include_paper: bool = True) -> List[dict]:
    """``[{'name', 'source', <column headers>...}]``: paper rows first, then the measured checkpoints."""
    rows = []
    if include_paper:
        rows += [dict(name=name, source='paper', **values) for name, values in PAPER_ROWS.items()]
    rows += [dict(name=name, source='measured', **values) for name, values in measured_rows(results).items()]
    return rows


def _cell(value: Optional[float], baseline: Optional[float], spread: Optional[Tuple[float, int]] = None) -> str:
    if value is None:
        return MISSING
    text = f'{value:.1f}' if spread is None else f'{value:.1f} ± {spread[0]:.1f}'
    if baseline is None:
        return text
    return f'{text} ({value - baseline:+.1f})'


def empty_cell_notes(results: Mapping) -> List[str]:
    """``'<checkpoint> / <column>: <reason>'`` for each cell a task left empty with a reason (``notes``)."""
    lines = []
    for name, entry in results.get('checkpoints', {}).items():
        for column in COLUMNS:
            note = entry.get('tasks', {}).get(column.task, {}).get('notes', {}).get(column.metric)
            if note:
                lines.append(f'{name} / {column.header}: {note}')
    return lines


def to_markdown(results: Mapping, baseline: Optional[str] = None, include_paper: bool = True) -> str:
    """Markdown table; with ``baseline`` (a measured checkpoint or a paper row, e.g. ``'MAE'``) the measured
    cells show their difference to it."""
    rows = table_rows(results, include_paper)
    names = [row['name'] for row in rows]
    if baseline is not None and baseline not in names:
        raise ValueError(f'baseline {baseline!r} is not a row of the table: choose one of {", ".join(names)}')
    reference = next((row for row in rows if row['name'] == baseline), None)
    spread = measured_spread(results)
    headers = ['model'] + [column.header for column in COLUMNS]
    lines = ['| ' + ' | '.join(headers) + ' |', '|' + '---|' * len(headers)]
    for row in rows:
        label = f"{row['name']} (paper)" if row['source'] == 'paper' else row['name']
        compare = reference is not None and row['source'] == 'measured' and row['name'] != baseline
        row_spread = spread.get(row['name'], {}) if row['source'] == 'measured' else {}
        cells = [_cell(row[column.header], reference[column.header] if compare else None,
                       row_spread.get(column.header)) for column in COLUMNS]
        lines.append('| ' + ' | '.join([label] + cells) + ' |')
    if reference is not None:
        lines.append('')
        lines.append(f'Differences in parentheses are against {baseline}'
                     f"{' (paper)' if reference['source'] == 'paper' else ''}.")
    counts = sorted({count for columns in spread.values() for _, count in columns.values()})
    if counts:
        lines.append('')
        lines.append(f"mean ± std: sample standard deviation over {' or '.join(map(str, counts))} seeds "
                     f'(per-seed values in results.json).')
    notes = empty_cell_notes(results)
    if notes:
        lines += ['', 'Empty cells:'] + [f'* {note}' for note in notes]
    return '\n'.join(lines) + '\n'


def to_csv(results: Mapping, include_paper: bool = True) -> str:
    """CSV with one row per model: ``name, source`` and one column per metric (empty where missing)."""
    buffer = io.StringIO()
    headers: Sequence[str] = ['name', 'source'] + [column.header for column in COLUMNS]
    writer = csv.DictWriter(buffer, fieldnames=headers, lineterminator='\n')
    writer.writeheader()
    for row in table_rows(results, include_paper):
        writer.writerow({key: '' if value is None else value for key, value in row.items()})
    return buffer.getvalue()
