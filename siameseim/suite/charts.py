"""Bar charts of the comparison table: one panel per column, one bar per model."""
import os.path as osp
from typing import List, Mapping, Optional

from .columns import COLUMNS
from .table import measured_spread, table_rows


def plot_results(results: Mapping, out_dir: str, include_paper: bool = True,
                 filename: str = 'results.png') -> Optional[str]:
    """Write a PNG with a panel for every column that has at least one value, with ±1 std error bars where a
    value is the mean of several seeds; returns its path (None if empty)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    rows = table_rows(results, include_paper)
    spread = measured_spread(results)
    columns = [column for column in COLUMNS if any(row[column.header] is not None for row in rows)]
    if not columns:
        return None
    num_cols = min(4, len(columns))
    num_rows = (len(columns) + num_cols - 1) // num_cols
    figure, axes = plt.subplots(num_rows, num_cols, figsize=(4 * num_cols, 3 * num_rows), squeeze=False)
    colors: List[str] = ['#9e9e9e' if row['source'] == 'paper' else f'C{index}' for index, row in enumerate(rows)]
    labels = [f"{row['name']} (paper)" if row['source'] == 'paper' else row['name'] for row in rows]
    for axis, column in zip(axes.flat, columns):
        values = [row[column.header] for row in rows]
        positions = [index for index, value in enumerate(values) if value is not None]
        errors = [spread.get(rows[index]['name'], {}).get(column.header, (0.0, 1))[0]
                  if rows[index]['source'] == 'measured' else 0.0 for index in positions]
        axis.bar(positions, [values[index] for index in positions], color=[colors[index] for index in positions],
                 yerr=errors, capsize=3)
        for index in positions:
            axis.annotate(f'{values[index]:.1f}', (index, values[index]), ha='center', va='bottom', fontsize=7)
        axis.set_title(column.header, fontsize=10)
        axis.set_xticks(range(len(rows)))
        axis.set_xticklabels(labels, rotation=45, ha='right', fontsize=7)
    for axis in list(axes.flat)[len(columns):]:
        axis.axis('off')
    figure.tight_layout()
    path = osp.join(out_dir, filename)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
