"""report.html in a real browser: headless Chromium opens it from disk, renders it and shows the table.

Skips where Chromium is not installed (Debian: ``apt-get install chromium``; CI installs it).
"""
import shutil
import subprocess

import pytest
from PIL import Image
from suite_report_fixture import make_suite_dir

from siameseim.suite.report import build_report

CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', '--allow-file-access-from-files']
# matplotlib's first default colour: the bars and lines of the first checkpoint in every chart
CHART_BLUE = (0x1f, 0x77, 0xb4)


def _chromium(*args: str) -> str:
    result = subprocess.run([CHROMIUM, *FLAGS, *args], capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.skipif(CHROMIUM is None, reason='headless Chromium is not installed (apt-get install chromium)')
def test_chromium_renders_the_report_from_disk(tmp_path):
    out = make_suite_dir(tmp_path / 'suite')
    url = 'file://' + build_report(str(out), baseline='base')
    screenshot = tmp_path / 'report.png'
    _chromium(f'--screenshot={screenshot}', '--window-size=1280,9000', url)
    image = Image.open(screenshot).convert('RGB')
    assert image.size == (1280, 9000)
    colors = image.getcolors(maxcolors=1 << 20)
    white = sum(count for count, color in colors if min(color) >= 250)
    assert white < 0.95 * image.width * image.height, 'the page rendered (almost) blank'
    blue = sum(count for count, color in colors if all(abs(a - b) <= 6 for a, b in zip(color, CHART_BLUE)))
    assert blue > 2000, 'no chart pixels: the inline PNG charts did not render'

    dom = _chromium('--dump-dom', url)
    assert '<table>' in dom and 'SiameseIM (paper)' in dom and 'COCO AP^box' in dom
    assert '45.0 (+22.5)' in dom  # a measured cell with its delta against the baseline
    assert dom.count('<img') >= 10 and 'Qualitative predictions' in dom
