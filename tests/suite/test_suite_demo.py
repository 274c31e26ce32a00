"""The embedded demo, reduced: toy data, tiny pretraining, every task for two checkpoints, a full table."""
import json
import re

import pytest
import torch
from PIL import Image

from siameseim.suite import COLUMNS
from siameseim.suite.cli import main


@pytest.mark.slow
def test_quick_demo_fills_every_column_and_resumes(tmp_path, capsys):
    out = tmp_path / 'demo'
    assert main(['demo', '--quick', '--out', str(out), '--pretrain-iters', '8']) == 0
    printed = capsys.readouterr().out
    assert '[demo] pretraining a tiny SiameseIM' in printed and '[demo] pretraining a tiny MAE' in printed
    assert '24 task runs done, 0 skipped' in printed
    markdown = (out / 'results.md').read_text()
    rows = {line.split(' | ')[0].strip('| '): line for line in markdown.splitlines()}
    for name in ('siameseim-tiny', 'mae-tiny', 'random-init'):
        cells = rows[name].strip('|').split(' | ')[1:]
        assert len(cells) == len(COLUMNS) and '–' not in cells, rows[name]
        assert ' ± ' in cells[1] and ' ± ' in cells[2]  # LIN and k-NN over two seeds
    assert '**Provenance**' in markdown
    results = json.loads((out / 'results.json').read_text())
    entry = results['checkpoints']['siameseim-tiny']
    assert entry['path'].endswith('.pth') and len(entry['sha256']) == 64 and entry['format']
    linear = entry['tasks']['linear']
    assert linear['seeds'] == [0, 1] and len(linear['runs']['top1']) == 2 and len(linear['configs']) == 2
    assert linear['load_report']['loaded'] > 0 and linear['load_report']['unexplained_missing'] == 0
    assert results['checkpoints']['random-init']['tasks']['linear'].get('load_report') is None
    assert all(results['runs'][0]['libraries'].values())  # every library found, mmseg as mmsegmentation
    with Image.open(out / 'results.png') as chart:  # a panel per column: 4 per row, 4 × 3 in each at 120 dpi
        assert chart.size == (4 * 4 * 120, -(-len(COLUMNS) // 4) * 3 * 120)
    assert (out / 'results.csv').read_text().count('\n') == 7
    report = (out / 'report.html').read_text()  # every section, inline data only, the drawn test predictions
    assert all(f'<section id="{name}">' in report for name in ('table', 'imagenet-c', 'effective-robustness',
                                                               'lvis', 'coco', 'ade20k', 'training', 'qualitative'))
    assert not re.search(r'(src|href)="(?!data:|#)', report)
    drawn = [len(list((out / name / task / 'predictions').iterdir()))
             for name in ('siameseim-tiny', 'mae-tiny', 'random-init')
             for task in ('coco', 'lvis', 'ade20k')]
    assert all(1 <= count <= 4 for count in drawn) and report.count('data:image/jpeg') == sum(drawn)

    assert main(['demo', '--quick', '--out', str(out), '--pretrain-iters', '8']) == 0
    printed = capsys.readouterr().out
    assert 'done in an earlier run' in printed and '24 of 24 task runs were finished before' in printed


def test_bench_reports_bad_arguments_in_one_line(tmp_path, capsys):
    assert main(['bench', '--checkpoint', f'mine={tmp_path}/missing.pth', '--out', str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith('error: checkpoint ')
    weights = tmp_path / 'w.pth'
    torch.save({'weight': torch.zeros(1)}, weights)
    assert main(['bench', '--checkpoint', str(weights), '--baseline', 'BEiT', '--out', str(tmp_path)]) == 2
    assert 'neither a --checkpoint name nor a paper row' in capsys.readouterr().err


def test_bench_skips_tasks_without_data(tmp_path, capsys):
    (tmp_path / 'nodata').mkdir()
    assert main(['bench', '--checkpoint', 'base=random', '--tasks', 'coco', 'ade20k', 'robustness',
                 '--data-root', str(tmp_path / 'nodata'), '--out', str(tmp_path / 'out')]) == 1  # nothing ran
    printed = capsys.readouterr().out
    assert 'coco: skipped: ' in printed and 'instances_train2017.json is missing' in printed
    assert 'robustness: skipped: none of imagenet-a' in printed
    assert '0 task runs done, 3 skipped' in printed
    peak = re.search(r'in \d+ s wall time, peak RSS (\d+) MiB', printed)
    assert peak and 50 < int(peak.group(1)) < 64 * 1024  # this test process: torch alone takes more than 50 MiB


def test_demo_refuses_toy_data_of_an_older_version_in_one_line(tmp_path, capsys):
    data = tmp_path / 'demo' / 'data'
    data.mkdir(parents=True)
    (data / '.complete').write_text('')
    assert main(['demo', '--quick', '--out', str(tmp_path / 'demo')]) == 2
    expected = f'error: {data} holds the toy data of an older demo version: remove it or use another --out\n'
    assert capsys.readouterr().err == expected
