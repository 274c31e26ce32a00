"""The suite's report.html, rendered from a fake suite output dir (no task is run)."""
import json
import re
import shutil
from base64 import b64decode
from html.parser import HTMLParser
from io import BytesIO

import pytest
from PIL import Image
from suite_report_fixture import ADE_IOU, make_suite_dir

from siameseim.suite.cli import main
from siameseim.suite.report import TOP_CLASSES, _series, _val_iteration, build_report
from siameseim.suite.report_data import training_curves
from siameseim.suite.table import to_markdown

SECTIONS = ('table', 'imagenet-c', 'effective-robustness', 'lvis', 'coco', 'ade20k', 'training', 'qualitative')


class _Page(HTMLParser):
    """Sections (their inner text), every src/href attribute and the number of inline images of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.sections, self.links, self.images, self._current = {}, [], 0, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == 'section':
            self._current = attrs['id']
            self.sections[self._current] = ''
        self.links += [value for key, value in attrs.items() if key in ('src', 'href')]
        if tag == 'img':
            self.images += 1
            if self._current:
                self.sections[self._current] += '[img]'

    def handle_data(self, data):
        if self._current:
            self.sections[self._current] += data

    def handle_endtag(self, tag):
        if tag == 'section':
            self._current = None


def _parse(path) -> _Page:
    page = _Page()
    page.feed(path.read_text())
    return page


def _gaps(text: str) -> list:
    return re.findall(r'Not shown: ([^\n]*?)(?=Not shown:|$)', text.replace('\n', ' '))


@pytest.fixture(scope='module')
def suite_dir(tmp_path_factory):
    out = make_suite_dir(tmp_path_factory.mktemp('report') / 'suite')
    assert main(['report', str(out), '--baseline', 'base']) == 0
    return out


def test_every_section_is_present_and_all_data_inline(suite_dir):
    html = (suite_dir / 'report.html').read_text()
    page = _parse(suite_dir / 'report.html')
    assert list(page.sections) == list(SECTIONS)
    assert page.links and all(link.startswith(('data:image/png;base64,', 'data:image/jpeg;base64,', '#'))
                              for link in page.links)
    assert not re.search(r'https?://', html) and '<script' not in html and '<link' not in html
    # a chart in each data section: ImageNet-C (2), effective robustness, LVIS, COCO, ADE20k, 4 training tasks;
    # drawn predictions: 2 COCO images x 2 checkpoints, 2 ADE20k images of ours
    counts = {name: text.count('[img]') for name, text in page.sections.items()}
    assert counts == dict(table=0, **{'imagenet-c': 2, 'effective-robustness': 1}, lvis=1, coco=1, ade20k=1,
                          training=4, qualitative=6)


def test_drawn_predictions_side_by_side_and_scaled_down(suite_dir):
    text = _parse(suite_dir / 'report.html').sections['qualitative']
    assert text.index('coco') < text.index('val_a.png[img][img]') < text.index('val_b.png[img][img]')
    assert 'lvis: no drawn predictions in the work dirs' in text
    assert 'val_a.png[img]–' in text.split('ade20k', 1)[1]  # base has no ADE20k drawings
    html = (suite_dir / 'report.html').read_text()
    image = re.search(r'src="data:image/jpeg;base64,([^"]+)"', html).group(1)
    assert Image.open(BytesIO(b64decode(image))).size == (640, 160)


def test_table_has_the_cells_of_results_md_and_the_provenance(suite_dir):
    text = _parse(suite_dir / 'report.html').sections['table']
    results = json.loads((suite_dir / 'results.json').read_text())
    for line in to_markdown(results, baseline='base').splitlines():
        if line.startswith('| ours') or line.startswith('| MAE (paper)'):
            for cell in line.strip('|').split(' | '):
                assert cell.strip() in text
    assert '45.0 (+22.5)' in text  # ours ADE20k mIoU against base
    assert '0123abc' in text and 'sha256 abababababab' in text and 'seeds: 0, 1' in text
    assert 'runs: {top1: 59, 61}' in text and '{torch: 2.14.1}' in text
    assert 'fewshot' in text and 'skipped (/data/imagenet/train is missing' in text
    assert 'failed (RuntimeError: out of memory)' in text


def test_numbers_read_from_the_work_dirs(suite_dir):
    sections = _parse(suite_dir / 'report.html').sections
    # LVIS of ours (percent), rare/common/frequent/all; base failed: a gap naming why
    assert 'oursbox20.0025.0035.0030.00' in sections['lvis'].replace(' ', '')
    assert 'LVIS AP by frequency group of base: lvis failed for base: RuntimeError: out of memory' in sections['lvis']
    # COCO AP_l is -1 (no large objects): shown as missing, not -100
    assert 'basebox10.0022.50–20.00' in sections['coco'].replace(' ', '')
    assert 'the val set has no ground truth in that group' in sections['coco']
    assert 'the val set has no ground truth' not in sections['lvis']
    assert 'missing corruptions' in sections['imagenet-c']
    assert 'mCE of ours not computed: no snow corruption under the data root' in sections['imagenet-c']


def test_ade20k_lists_the_largest_class_differences_against_the_baseline(suite_dir):
    text = _parse(suite_dir / 'report.html').sections['ade20k']
    assert 'ours (best other mIoU) against base, the baseline' in text
    expected = sorted((cls for cls in ADE_IOU['ours'] if ADE_IOU['base'][cls] == ADE_IOU['base'][cls]),
                      key=lambda cls: -abs(ADE_IOU['ours'][cls] - ADE_IOU['base'][cls]))
    rows = re.findall(r'([a-z]+)(\d+\.\d\d)(\d+\.\d\d)([+-]\d+\.\d\d)', text.rsplit('difference', 1)[1])
    assert [row[0] for row in rows] == expected[:TOP_CLASSES]  # car is NaN for base: left out
    assert rows[0] == ('tree', '40.00', '10.00', '+30.00')


def test_training_curves_cover_every_mmengine_run_and_explain_the_others(suite_dir):
    text = _parse(suite_dir / 'report.html').sections['training']
    gaps = _gaps(text)
    assert [gap.split(':')[0] for gap in gaps] == ['fewshot', 'lvis', 'ade20k', 'robustness']
    assert 'no checkpoint finished this task' in gaps[0] and 'shorter than the logger interval' in gaps[1]
    assert 'frozen features or test-only' in gaps[3]
    curves = training_curves(str(suite_dir / 'ours' / 'linear'))
    assert [curve.label for curve in curves] == ['seed0', 'seed1'] and len(curves[0].train) == 4
    # epoch-based validation (step = epoch 2) is drawn at the last iteration of epoch 2
    steps, values = _series(curves[1].val, 'imagenet/top1', _val_iteration(curves[1].train))
    assert (steps, values) == ([8], [84.0])


def test_a_missing_task_and_moved_out_dir_are_explained_gaps(tmp_path, suite_dir):
    moved = tmp_path / 'moved'
    shutil.copytree(suite_dir, moved)
    # the recorded work dirs and metric files no longer exist: the report reads them under the new place
    results = json.loads((moved / 'results.json').read_text().replace(str(suite_dir), '/gone/suite'))
    for entry in results['checkpoints'].values():
        del entry['tasks']['robustness']
    (moved / 'results.json').write_text(json.dumps(results))
    (moved / 'ours' / 'coco' / 'test_metrics.json').write_text('{"coco/bbox_mAP": ')
    build_report(str(moved), baseline='MAE')
    sections = _parse(moved / 'report.html').sections
    assert 'ImageNet-C of ours: robustness was not run for ours' in sections['imagenet-c']
    assert 'IN-A, IN-R, IN-Sketch: no measured checkpoint' in sections['effective-robustness']
    assert 'COCO AP by object size of ours:' in sections['coco'] and 'is unreadable' in sections['coco']
    assert 'basebox10.00' in sections['coco'].replace(' ', '')
    assert 'lowest-mIoU checkpoint' in sections['ade20k']  # MAE is a paper row, not a measured checkpoint
    assert sections['lvis'].count('[img]') == 1 and 'oursbox20.0025.0035.0030.00' in sections['lvis'].replace(' ', '')


def test_a_suite_without_any_finished_task_still_renders(tmp_path):
    out = tmp_path / 'empty'
    out.mkdir()
    (out / 'results.json').write_text(json.dumps(
        {'checkpoints': {'only': {'tasks': {'coco': {'status': 'skipped', 'reason': 'no data'}}}}}))
    assert main(['report', str(out)]) == 0
    page = _parse(out / 'report.html')
    assert list(page.sections) == list(SECTIONS) and page.images == 0
    assert 'coco skipped for only: no data' in page.sections['coco']
    assert 'need the per-class IoU of two checkpoints' in page.sections['ade20k']


def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys):
    assert main(['report', str(tmp_path / 'absent')]) == 2
    assert capsys.readouterr().err.strip().count('\n') == 0
    (tmp_path / 'results.json').write_text('{"checkpoints": {}}')
    assert main(['report', str(tmp_path), '--baseline', 'BEiT']) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: baseline 'BEiT' is not a row") and err.count('\n') == 1
    (tmp_path / 'results.json').write_text('{"checkpoints": ')
    assert main(['report', str(tmp_path)]) == 2
    assert 'is not valid JSON' in capsys.readouterr().err
    assert not list(tmp_path.glob('report.html*'))
