"""The comparison table: exact Markdown and CSV from fixture results, deltas, charts."""
import pytest

from siameseim.suite import PAPER_ROWS, to_csv, to_markdown
from siameseim.suite.charts import plot_results

RESULTS = {
    'checkpoints': {
        'mine': {
            'tasks': {
                'finetune': {'metrics': {'top1': 84.5}},
                'coco': {'metrics': {'bbox_AP': 52.0, 'segm_AP': 46.04}},
                'robustness': {'metrics': {'imagenet_a_top1': 40.0, 'one_minus_mce': 56.25}},
            }
        },
        'mae-repro': {
            'tasks': {
                'finetune': {'metrics': {'top1': 83.5}},
                'coco': {'metrics': {'bbox_AP': 51.0}},
            }
        },
    }
}

EXPECTED_MARKDOWN = """\
| model | FT | LIN | k-NN | 1% | COCO AP^box | COCO AP^mask | ADE20k mIoU | LVIS AP^box | LVIS AP^box_r | LVIS AP^mask | LVIS AP^mask_r | IN-A | IN-R | IN-Sketch | 1 − mCE |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
| mine | 84.5 (+1.0) | – | – | – | 52.0 (+1.0) | 46.0 | – | – | – | – | – | 40.0 | – | – | 56.2 |
| mae-repro | 83.5 | – | – | – | 51.0 | – | – | – | – | – | – | – | – | – | – |

Differences in parentheses are against mae-repro.
"""

EXPECTED_CSV = """\
name,source,FT,LIN,k-NN,1%,COCO AP^box,COCO AP^mask,ADE20k mIoU,LVIS AP^box,LVIS AP^box_r,LVIS AP^mask,LVIS AP^mask_r,IN-A,IN-R,IN-Sketch,1 − mCE
mine,measured,84.5,,,,52.0,46.04,,,,,,40.0,,,56.25
mae-repro,measured,83.5,,,,51.0,,,,,,,,,,
"""


def test_markdown_is_exact_with_deltas_against_a_measured_baseline():
    assert to_markdown(RESULTS, baseline='mae-repro', include_paper=False) == EXPECTED_MARKDOWN


def test_csv_is_exact():
    assert to_csv(RESULTS, include_paper=False) == EXPECTED_CSV


def test_paper_rows_come_first_and_serve_as_baseline():
    markdown = to_markdown(RESULTS, baseline='MAE')
    lines = markdown.splitlines()
    assert lines[2].startswith('| MoCo-v3 (paper) | 83.0 | 76.7 | – | 63.4 | 47.9 | 42.7 | 47.3 |')
    assert lines[4].startswith('| SiameseIM (paper) | 84.1 | 78.0 | – | 65.1 | 52.1 | 46.2 | 51.1 | 40.5 | 30.9 |')
    assert lines[5].startswith('| mine | 84.5 (+0.9) | – | – | – | 52.0 (+0.4) | 46.0 (+0.1) |')
    assert lines[-1] == 'Differences in parentheses are against MAE (paper).'
    assert PAPER_ROWS['SiameseIM']['1 − mCE'] == 57.1


def test_unknown_baseline_names_the_choices():
    with pytest.raises(ValueError, match="baseline 'BEiT' is not a row of the table: choose one of .*mine"):
        to_markdown(RESULTS, baseline='BEiT')


def test_chart_has_a_panel_per_column_with_values(tmp_path, monkeypatch):
    """Five columns hold values: five titled panels whose bars are those values (the other three axes of the
    2×4 grid are hidden), saved as a 1920×720 PNG (4 × 4 in by 2 × 3 in at 120 dpi)."""
    import matplotlib.pyplot as plt
    from PIL import Image
    figures = []
    close = plt.close
    monkeypatch.setattr(plt, 'close', lambda figure: figures.append(figure))
    path = plot_results(RESULTS, str(tmp_path), include_paper=False)
    assert path.endswith('results.png') and len(figures) == 1
    axes = figures[0].axes
    close(figures[0])
    panels = [axis for axis in axes if axis.axison]
    assert len(axes) == 8 and len(panels) == 5
    expected = {'FT': [84.5, 83.5], 'COCO AP^box': [52.0, 51.0], 'COCO AP^mask': [46.04], 'IN-A': [40.0],
                '1 − mCE': [56.25]}
    assert [axis.get_title() for axis in panels] == list(expected)
    for axis in panels:
        assert [bar.get_height() for bar in axis.patches] == pytest.approx(expected[axis.get_title()])
    with Image.open(path) as image:
        assert image.format == 'PNG' and image.size == (1920, 720)
    assert plot_results({'checkpoints': {}}, str(tmp_path), include_paper=False) is None


SEEDED = {
    'checkpoints': {
        'sim': {'tasks': {'linear': {'metrics': {'top1': 60.0}, 'runs': {'top1': [58.0, 60.0, 62.0]}},
                          'finetune': {'metrics': {'top1': 70.0}}}},
        'random': {'tasks': {'linear': {'metrics': {'top1': 20.0}, 'runs': {'top1': [19.0, 21.0]}}}},
    }
}


def test_seeded_columns_show_mean_and_sample_std_with_the_delta_of_the_means():
    lines = to_markdown(SEEDED, baseline='random', include_paper=False).splitlines()
    assert lines[2].startswith('| sim | 70.0 | 60.0 ± 2.0 (+40.0) | – |')
    assert lines[3].startswith('| random | – | 20.0 ± 1.4 | – |')
    assert lines[-1] == 'mean ± std: sample standard deviation over 2 or 3 seeds (per-seed values in results.json).'
    assert '±' not in to_markdown(RESULTS, include_paper=False)


def test_chart_draws_error_bars_for_seeded_values(tmp_path, monkeypatch):
    import matplotlib.axes
    calls = []
    original = matplotlib.axes.Axes.bar

    def recording_bar(self, *args, **kwargs):
        calls.append(kwargs.get('yerr'))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, 'bar', recording_bar)
    plot_results(SEEDED, str(tmp_path), include_paper=False)
    assert calls[1] == pytest.approx([2.0, 2 ** 0.5])  # the LIN panel: sim, random
    assert calls[0] == [0.0]  # FT: one run
