"""The matplotlib figures of the suite report; each function returns a figure for ``report_html.figure``."""
from typing import TYPE_CHECKING, Dict, List, Mapping, Optional, Sequence, Tuple

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Series = Mapping[str, Sequence[Optional[float]]]


def _pyplot():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def grouped_bars(panels: Sequence[Tuple[str, Series]], groups: Sequence[str], ylabel: str,
                 width: float = 0.0) -> 'Figure':
    """One panel per ``(title, {series: values per group})``, bars grouped by ``groups``, one colour per
    series (missing values leave a hole)."""
    plt = _pyplot()
    width = width or max(4.0, 0.5 * len(groups) * max(len(series) for _, series in panels))
    fig, axes = plt.subplots(1, len(panels), figsize=(min(width, 16) * (1 if len(panels) == 1 else 0.6) *
                                                      len(panels), 3.4), squeeze=False)
    for axis, (title, series) in zip(axes[0], panels):
        step = 0.8 / max(len(series), 1)
        for index, (name, values) in enumerate(series.items()):
            positions = [group + (index - (len(series) - 1) / 2) * step for group in range(len(groups))]
            kept = [(x, v) for x, v in zip(positions, values) if v is not None]
            axis.bar([x for x, _ in kept], [v for _, v in kept], width=step, label=name, color=f'C{index}')
        axis.set_title(title, fontsize=10)
        axis.set_ylabel(ylabel)
        axis.set_xticks(range(len(groups)))
        axis.set_xticklabels(groups, rotation=45 if len(groups) > 4 else 0, ha='right' if len(groups) > 4 else 'center',
                             fontsize=8)
        axis.legend(fontsize=7)
    fig.tight_layout()
    return fig


def lines(x: Sequence[float], series: Series, xlabel: str, ylabel: str, title: str) -> 'Figure':
    """One line per series over ``x`` (missing values are skipped)."""
    plt = _pyplot()
    fig, axis = plt.subplots(figsize=(5.5, 3.4))
    for index, (name, values) in enumerate(series.items()):
        kept = [(a, v) for a, v in zip(x, values) if v is not None]
        axis.plot([a for a, _ in kept], [v for _, v in kept], marker='o', label=name, color=f'C{index}')
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.set_title(title, fontsize=10)
    axis.legend(fontsize=7)
    fig.tight_layout()
    return fig


def effective_robustness(panels: Sequence[Tuple[str, Sequence[Tuple[str, float, float, bool]]]]) -> 'Figure':
    """OOD against ImageNet accuracy, one panel per OOD set; points are ``(label, in_acc, ood_acc, is_paper)``
    (paper rows grey squares as reference, measured checkpoints coloured circles), with the y = x line."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.8), squeeze=False)
    for axis, (title, points) in zip(axes[0], panels):
        measured = 0
        for label, in_acc, ood_acc, paper in points:
            if paper:
                axis.scatter(in_acc, ood_acc, marker='s', color='#9e9e9e')
            else:
                axis.scatter(in_acc, ood_acc, marker='o', color=f'C{measured}')
                measured += 1
            axis.annotate(f'{label} (paper)' if paper else label, (in_acc, ood_acc), fontsize=7,
                          textcoords='offset points', xytext=(4, 4))
        values = [v for _, a, o, _ in points for v in (a, o)]
        low, high = min(values + [0.0]), max(values + [100.0])
        axis.plot([low, high], [low, high], linestyle=':', color='#bbbbbb', linewidth=1)
        axis.set_xlabel('ImageNet top-1 (%)')
        axis.set_ylabel(f'{title} top-1 (%)')
        axis.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def class_differences(names: Sequence[str], deltas: Sequence[float], title: str) -> 'Figure':
    """Horizontal bars of per-class IoU differences (positive green, negative red)."""
    plt = _pyplot()
    fig, axis = plt.subplots(figsize=(6.5, 0.28 * len(names) + 1.2))
    positions = list(range(len(names)))[::-1]
    axis.barh(positions, deltas, color=['#2e7d32' if d >= 0 else '#c62828' for d in deltas])
    axis.set_yticks(positions)
    axis.set_yticklabels(names, fontsize=8)
    axis.axvline(0, color='#444444', linewidth=0.8)
    axis.set_xlabel('IoU difference (points)')
    axis.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def training_panels(title: str,
                    panels: Sequence[Tuple[str, Dict[str, Tuple[List[float], List[float]]]]]) -> 'Figure':
    """Small multiples for one task: a panel per ``(quantity, {run label: (steps, values)})``."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(3.8 * len(panels), 2.9), squeeze=False)
    for axis, (quantity, runs) in zip(axes[0], panels):
        for index, (label, (steps, values)) in enumerate(runs.items()):
            axis.plot(steps, values, marker='.' if len(steps) < 30 else None, label=label, color=f'C{index}')
        axis.set_title(quantity, fontsize=9)
        axis.set_xlabel('iteration', fontsize=8)
        axis.tick_params(labelsize=7)
        if quantity == 'lr':
            axis.ticklabel_format(axis='y', style='sci', scilimits=(-2, 2))
        axis.legend(fontsize=6)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
