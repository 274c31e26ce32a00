"""The suite's command line: one run per --out (a lock), one-line errors for bad folders and numbers."""
import json
import os
import subprocess
import sys

import pytest

from siameseim.suite.cli import main
from siameseim.suite.lock import LOCK_FILE, SuiteLockedError, output_lock
from siameseim.atomic import TEMPORARY_SUFFIX
from siameseim.suite.runner import save_results

from checkout import REPO_ROOT

BENCH = ['bench', '--checkpoint', 'base=random', '--tasks', 'coco']


def holder(out_dir):
    """A separate process that holds the lock of ``out_dir`` until its stdin closes."""
    code = ('import sys; from siameseim.suite.lock import output_lock\n'
            f'with output_lock({str(out_dir)!r}):\n'
            '    print("held", flush=True); sys.stdin.read()')
    process = subprocess.Popen([sys.executable, '-c', code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == 'held'
    return process


def test_second_run_on_the_same_out_is_refused_in_one_line(tmp_path, capsys):
    out = tmp_path / 'out'
    out.mkdir()
    process = holder(out)
    try:
        assert main(BENCH + ['--data-root', str(tmp_path), '--out', str(out)]) == 2
        err = capsys.readouterr().err
        assert err.count('\n') == 1 and f'is in use by process {process.pid}' in err and 'another --out' in err
        assert not (out / 'results.json').exists()
    finally:
        process.stdin.close()
        process.wait()
    assert not (out / LOCK_FILE).exists()  # released by its owner
    main(BENCH + ['--data-root', str(tmp_path), '--out', str(out)])
    assert (out / 'results.json').exists() and not (out / LOCK_FILE).exists()


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    dead = subprocess.Popen([sys.executable, '-c', 'pass'])
    dead.wait()
    import socket
    (tmp_path / LOCK_FILE).write_text(f'{socket.gethostname()} {dead.pid}\n')
    lines = []
    with output_lock(str(tmp_path), log=lines.append):
        assert (tmp_path / LOCK_FILE).read_text().split()[1] == str(os.getpid())
    assert 'no longer runs: taking it over' in lines[0] and not (tmp_path / LOCK_FILE).exists()
    (tmp_path / LOCK_FILE).write_text('another-host 1\n')
    with pytest.raises(SuiteLockedError, match='process 1 on another-host.*delete'):
        with output_lock(str(tmp_path)):
            pass


def test_results_are_written_through_unique_temp_files(tmp_path, monkeypatch):
    """Two writers never share a temp name (the fixed results.json.tmp raced between two runs)."""
    temps = []
    real_replace = os.replace

    def replace(src, dst):
        temps.append(src)
        real_replace(src, dst)

    monkeypatch.setattr(os, 'replace', replace)
    save_results(str(tmp_path), {'checkpoints': {}})
    save_results(str(tmp_path), {'checkpoints': {'a': {}}})
    assert len(set(temps)) == 2 and all(t.endswith(TEMPORARY_SUFFIX) and '.results.json.' in t for t in temps)
    assert json.loads((tmp_path / 'results.json').read_text()) == {'checkpoints': {'a': {}}}
    assert sorted(os.listdir(tmp_path)) == ['results.json']


def test_bad_out_folders_are_one_line(tmp_path, capsys):
    afile = tmp_path / 'afile'
    afile.write_text('x')
    assert main(BENCH + ['--data-root', str(tmp_path), '--out', str(afile)]) == 2
    assert 'is a file, not a folder' in capsys.readouterr().err
    assert main(BENCH + ['--data-root', str(tmp_path), '--out', str(afile / 'sub')]) == 2
    assert 'cannot be created' in capsys.readouterr().err
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / 'ro'
        locked.mkdir(mode=0o500)
        assert main(BENCH + ['--data-root', str(tmp_path), '--out', str(locked)]) == 2
        assert 'not writable' in capsys.readouterr().err


def test_nonexistent_data_root_fails_and_nothing_runs(tmp_path, capsys):
    assert main(BENCH + ['--data-root', str(tmp_path / 'nonexistent'), '--out', str(tmp_path / 'out')]) == 2
    assert 'is not a folder' in capsys.readouterr().err
    assert not (tmp_path / 'out' / 'results.json').exists()


@pytest.mark.parametrize('argv', [BENCH + ['--gpus', '-2'], BENCH + ['--gpus', 'two'],
                                  ['demo', '--pretrain-iters', '-5'], ['demo', '--pretrain-iters', '0']])
def test_non_positive_counts_are_rejected(argv, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv + ['--out', str(tmp_path / 'out')])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert 'positive integer' in err or 'not an integer' in err


def test_getting_started_says_a_failed_task_does_not_stop_the_suite():
    """The runner records a failure and goes on (test_suite_runner); the guide must say the same."""
    guide = os.path.join(REPO_ROOT, 'docs', 'getting_started.md')
    with open(guide) as f:
        text = ' '.join(f.read().split())
    assert 'does not stop the suite' in text and 'stops the suite with its error' not in text
