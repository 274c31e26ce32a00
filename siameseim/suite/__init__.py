"""The benchmark suite: run every task for several checkpoints and build the paper-style table."""
from .columns import COLUMNS, PAPER_ROWS, TASKS, Column
from .table import measured_rows, table_rows, to_csv, to_markdown

__all__ = ['COLUMNS', 'PAPER_ROWS', 'TASKS', 'Column', 'measured_rows', 'table_rows', 'to_csv', 'to_markdown']
