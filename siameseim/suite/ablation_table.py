"""The paper's ablation table with the measured values beside the published ones (``python -m siameseim
ablation``, docs/ablation.md).

One line per ablation row: its eight switches, then FT, LIN, COCO AP^box and AP^mask as ``measured (paper)``.
Measured values are read from ``results.json`` by the main table's :func:`~siameseim.suite.table.measured_rows`,
for the checkpoint named ``row-<letter>-tiny``.
"""
from typing import Mapping, Sequence

from .table import MISSING, measured_rows

ABLATION_COLUMNS = ('FT', 'LIN', 'COCO AP^box', 'COCO AP^mask')
SWITCH_HEADERS = ('target', 'views', 'colour aug', 'mask', 'proj/dec norm', 'proj/dec type', 'loss form', 'loss')


def checkpoint_name(row: str) -> str:
    """The suite name of the tiny pretraining of ablation ``row``."""
    return f'row-{row}-tiny'


def _switch_cell(value: object) -> str:
    if isinstance(value, bool):
        return '✓' if value else '–'
    return {'mae': 'MAE-like', 'moco': 'MoCo-like', 'bn': 'BN', 'ln': 'LN', 'unigrad': 'UniGrad',
            'l2': 'L2'}.get(str(value), str(value))


def ablation_markdown(results: Mapping, rows: Sequence[str]) -> str:
    """Markdown table of ``rows`` (letters of :data:`siameseim.pretrain.ablation.ROWS`): switches, measured (paper)."""
    from ..pretrain.ablation import ROWS
    measured = measured_rows(results)
    headers = ['row'] + list(SWITCH_HEADERS) + [f'{column} measured (paper)' for column in ABLATION_COLUMNS]
    lines = ['| ' + ' | '.join(headers) + ' |', '|' + '---|' * len(headers)]
    for row in rows:
        spec = ROWS[row]
        values = measured.get(checkpoint_name(row), {})
        cells = [f'({row})'] + [_switch_cell(value) for value in spec.switches.values()]
        for column in ABLATION_COLUMNS:
            value = values.get(column)
            cells.append(f'{MISSING if value is None else f"{value:.1f}"} ({spec.paper[column]:.1f})')
        lines.append('| ' + ' | '.join(cells) + ' |')
    lines += ['', 'Measured: tiny models on the toy world (docs/ablation.md); in parentheses the paper\'s ViT-B/16 '
              '400-epoch numbers.']
    return '\n'.join(lines) + '\n'
