"""Robustness label tables and metrics against the protocol's checks (docs/protocols.md §4; §7 items 9–10)."""
import hashlib
import re
from importlib import resources

import pytest
import torch

from siameseim.robustness.labels import (imagenet_1k_index, imagenet_1k_wnids, restrict_logits, restricted_prediction,
                                         subset_indices, subset_wnids)
from siameseim.robustness.metrics import (ALEXNET_ERRORS, CORRUPTIONS, SEVERITIES, ClassificationAccuracy,
                                          ImageNetCMetric, corruption_errors, summarize_imagenet_c, topk_correct)

from checkout import REPO_ROOT

SPEC = resources.files('siameseim.robustness').joinpath('data')
A_INDICES = [int(x) for x in """6 11 13 15 17 22 23 27 30 37 39 42 47 50 57 70 71 76 79 89 90 94 96 97 99 105 107 108
110 113 124 125 130 132 143 144 150 151 207 234 235 254 277 283 287 291 295 298 301 306 307 308 309 310 311 313 314
315 317 319 323 324 326 327 330 334 335 336 347 361 363 372 378 386 397 400 401 402 404 407 411 416 417 420 425 428
430 437 438 445 456 457 461 462 470 472 483 486 488 492 496 514 516 528 530 539 542 543 549 552 557 561 562 569 572
573 575 579 589 606 607 609 614 626 627 640 641 642 643 658 668 677 682 684 687 701 704 719 736 746 749 752 758 763
765 768 773 774 776 779 780 786 792 797 802 803 804 813 815 820 823 831 833 835 839 845 847 850 859 862 870 879 880
888 890 897 900 907 913 924 932 933 934 937 943 945 947 951 954 956 957 959 971 972 980 981 984 986 987 988""".split()]
R_INDICES = [int(x) for x in """1 2 4 6 8 9 11 13 22 23 26 29 31 39 47 63 71 76 79 84 90 94 96 97 99 100 105 107 113
122 125 130 132 144 145 147 148 150 151 155 160 161 162 163 171 172 178 187 195 199 203 207 208 219 231 232 234 235
242 245 247 250 251 254 259 260 263 265 267 269 276 277 281 288 289 291 292 293 296 299 301 308 309 310 311 314 315
319 323 327 330 334 335 337 338 340 341 344 347 353 355 361 362 365 366 367 368 372 388 390 393 397 401 407 413 414
425 428 430 435 437 441 447 448 457 462 463 469 470 471 472 476 483 487 515 546 555 558 570 579 583 587 593 594 596
609 613 617 621 629 637 657 658 701 717 724 763 768 774 776 779 780 787 805 812 815 820 824 833 847 852 866 875 883
889 895 907 928 931 932 933 934 936 937 943 945 947 948 949 951 953 954 957 963 965 967 980 981 983 988""".split()]


@pytest.mark.parametrize('name, digest', [
    ('imagenet_1k_wnids.txt', '70002b0ff5de60a3a17a82dbfcff291931f96225ddf941ad2e182fc39e183d15'),
    ('imagenet_a_wnids.txt', '9826a24166e74ce62fb87b27889874ca26917542c745712309d6e25855d63bc2'),
    ('imagenet_r_wnids.txt', 'a6a0729f7a99230280639cab6e51e01485a3b41a676ea35621a501c9d6e83ca4'),
])
def test_shipped_wnid_files_match_spec_checksums(name, digest):
    assert hashlib.sha256(SPEC.joinpath(name).read_bytes()).hexdigest() == digest


def test_1k_table_is_sorted_unique_wnids():
    wnids = imagenet_1k_wnids()
    assert len(wnids) == 1000 and len(set(wnids)) == 1000 and list(wnids) == sorted(wnids)
    assert wnids[0] == 'n01440764' and all(re.fullmatch(r'n\d{8}', w) for w in wnids)
    assert imagenet_1k_index()['n01440764'] == 0


@pytest.mark.parametrize('subset, expected', [('a', A_INDICES), ('r', R_INDICES)])
def test_subset_indices_equal_spec_lists(subset, expected):
    assert subset_indices(subset) == expected
    assert len(subset_wnids(subset)) == 200


def test_a_and_r_share_86_classes():
    assert len(set(subset_indices('a')) & set(subset_indices('r'))) == 86


def test_restricted_argmax_ignores_classes_outside_the_subset():
    indices = subset_indices('a')
    logits = torch.zeros(3, 1000)
    logits[0, 0] = 100.0            # class 0 is not an A class: must be ignored
    logits[0, indices[5]] = 1.0     # the maximiser among the 200
    logits[1, indices[-1]] = 3.0
    logits[2, indices[0]] = 2.0
    assert restricted_prediction(logits, indices).tolist() == [indices[5], indices[-1], indices[0]]
    restricted = restrict_logits(logits, indices)
    assert restricted.shape == (3, 200) and restricted.argmax(1).tolist() == [5, 199, 0]


def test_restriction_rejects_non_1k_logits():
    with pytest.raises(ValueError, match='1000-way logits'):
        restrict_logits(torch.zeros(2, 10), [1, 2])


def test_topk_and_metric():
    logits = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.1, 0.3], [0.2, 0.3, 0.5]])
    labels = torch.tensor([1, 2, 0])
    assert topk_correct(logits, labels, (1, 2)) == {1: 1, 2: 2}
    metric = ClassificationAccuracy(topk=(1, 2))
    metric.process(None, [dict(logits=row, label=int(y)) for row, y in zip(logits, labels)])
    assert metric.compute_metrics(metric.results) == pytest.approx({'top1': 100 / 3, 'top2': 200 / 3, 'images': 3})


def test_mce_of_alexnet_errors_is_exactly_100():
    errors = {c: {s: ALEXNET_ERRORS[c] for s in SEVERITIES} for c in CORRUPTIONS}
    summary = summarize_imagenet_c(errors)
    assert summary['mce'] == pytest.approx(100.0, abs=1e-9)
    assert summary['one_minus_mce'] == pytest.approx(0.0, abs=1e-9)
    assert all(ce == pytest.approx(100.0) for ce in summary['ce'].values())


def test_mce_hand_computed_example():
    # Every corruption at half AlexNet's error except gaussian noise, whose severities 0.1..0.5 average 0.3:
    # CE_gauss = 0.3 / 0.886428 = 0.338437..., others 0.5 -> mCE = 100 * (0.338437 + 14 * 0.5) / 15.
    errors = {c: {s: ALEXNET_ERRORS[c] / 2 for s in SEVERITIES} for c in CORRUPTIONS}
    errors['gaussian_noise'] = {s: s / 10 for s in SEVERITIES}
    summary = summarize_imagenet_c(errors, clean_error=0.2)
    assert summary['ce']['gaussian_noise'] == pytest.approx(100 * 0.3 / 0.886428)
    assert summary['mce'] == pytest.approx(100 * (0.3 / 0.886428 + 14 * 0.5) / 15)
    assert summary['one_minus_mce'] == pytest.approx(100 - summary['mce'])
    # Relative CE of brightness: (0.282296 - 0.2) / (0.564592 - 0.4345).
    assert summary['relative_ce']['brightness'] == pytest.approx(100 * (0.282296 - 0.2) / (0.564592 - 0.4345))


def test_incomplete_corruptions_leave_mce_undefined():
    errors = {'fog': {1: 0.5, 2: 0.5}, 'brightness': {s: 0.3 for s in SEVERITIES}}
    summary = summarize_imagenet_c(errors)
    assert summary['incomplete'] == ['fog'] and summary['mce'] is None and 'brightness' in summary['ce']
    with pytest.raises(ValueError, match='severities'):
        corruption_errors({'fog': {1: 0.5}})
    with pytest.raises(ValueError, match='not one of the 15'):
        corruption_errors({'speckle_noise': {s: 0.1 for s in SEVERITIES}})


def predictions(logits, labels):
    return [dict(logits=row, label=int(y)) for row, y in zip(logits, labels)]


def collected(metric_type, batches, world_size, **kwargs):
    """Score ``batches`` (data_batch, data_samples) split over ranks as mmengine's DefaultSampler pads and
    splits a dataset, in batches of 2 per rank, then gather the per-rank results in ``collect_results``' order
    (one from each rank in turn) and truncate to the dataset size, as ``BaseMetric.evaluate`` does."""
    samples = [(data, sample) for batch, outputs in batches for data, sample in zip(batch, outputs)]
    size = len(samples)
    total = -(-size // world_size) * world_size
    indices = (list(range(size)) * 2)[:total]
    parts = []
    for rank in range(world_size):
        metric = metric_type(**kwargs)
        mine = indices[rank:total:world_size]
        for start in range(0, len(mine), 2):
            chunk = [samples[index] for index in mine[start:start + 2]]
            metric.process({key: [data[key] for data, _ in chunk] for key in chunk[0][0]}, [s for _, s in chunk])
        parts.append(metric.results)
    ordered = [result for group in zip(*parts) for result in group][:size]
    return metric_type(**kwargs).compute_metrics(ordered)


def test_padded_ranks_neither_duplicate_nor_drop_images():
    torch.manual_seed(0)
    logits, labels = torch.randn(7, 1000), torch.randint(0, 1000, (7, ))
    logits[torch.arange(4), labels[:4]] = 10.0   # 4 of 7 right: a duplicated or dropped image shows
    batch = [({}, sample) for sample in predictions(logits, labels)]
    single = collected(ClassificationAccuracy, [zip(*batch)], 1)
    assert single['top1'] == pytest.approx(400 / 7) and single['images'] == 7
    for world_size in (2, 3, 4):
        assert collected(ClassificationAccuracy, [zip(*batch)], world_size) == single


def test_a_and_r_metric_equals_the_official_eval_scripts():
    """hendrycks' eval: ``output[:, indices_in_1k].argmax(1)`` against the 200-class target."""
    torch.manual_seed(1)
    for subset in ('a', 'r'):
        indices = subset_indices(subset)
        logits = torch.randn(64, 1000)
        logits[:, 0] += 3.0                        # a strong class outside both subsets, ignored by both
        target200 = torch.randint(0, 200, (64, ))
        labels = torch.as_tensor(indices)[target200]
        logits[torch.arange(32), labels[:32]] += 2.0
        official = 100.0 * (logits[:, indices].argmax(1) == target200).double().mean().item()
        metric = ClassificationAccuracy(subset=subset)
        metric.process(None, predictions(logits, labels))
        result = metric.compute_metrics(metric.results)
        assert result == {'top1': official, 'images': 64} and 0 < official < 100


def test_imagenet_c_metric_groups_by_corruption_and_severity():
    torch.manual_seed(2)
    rows = []
    for corruption in CORRUPTIONS:
        for severity in SEVERITIES:
            for index in range(4):   # severity % 4 of the 4 images wrong
                label = int(torch.randint(0, 1000, ()))
                logits = torch.randn(1000)
                logits[label if index < 4 - (severity % 4) else (label + 1) % 1000] = 10.0
                rows.append((dict(corruption=corruption, severity=severity), dict(logits=logits, label=label)))
    expected_errors = {c: {s: (s % 4) / 4 for s in SEVERITIES} for c in CORRUPTIONS}
    expected = summarize_imagenet_c(expected_errors, 1 - 80.0 / 100)
    for world_size in (1, 2, 3):
        metrics = collected(ImageNetCMetric, [zip(*rows)], world_size, clean_top1=80.0)
        assert {key: metrics[key] for key in expected} == expected
        assert metrics['images'] == 300 and metrics['missing_corruptions'] == []
    partial = collected(ImageNetCMetric, [zip(*[row for row in rows if row[0]['corruption'] != 'fog'
                                                and (row[0]['corruption'], row[0]['severity']) != ('snow', 5)])], 2)
    assert partial['mce'] is None and partial['relative_ce'] is None and partial['incomplete'] == ['snow']
    assert partial['missing_corruptions'] == ['fog'] and 'snow' not in partial['ce']


def test_mce_gap_names_each_missing_corruption_and_severity():
    errors = {c: {s: 0.5 for s in SEVERITIES} for c in CORRUPTIONS if c != 'fog'}
    assert summarize_imagenet_c(errors)['mce_gap'] == 'mCE needs all 15 corruptions with severities 1-5: fog is missing'
    del errors['snow'][3], errors['frost'][1], errors['frost'][5]
    summary = summarize_imagenet_c(errors)
    assert summary['mce'] is None and summary['one_minus_mce'] is None
    assert summary['mce_gap'].endswith('snow lacks severity 3; frost lacks severities 1, 5; fog is missing')
    errors['fog'] = {s: 0.5 for s in SEVERITIES}
    errors['snow'][3] = errors['frost'][1] = errors['frost'][5] = 0.5
    complete = summarize_imagenet_c(errors)
    assert complete['mce_gap'] is None and complete['mce'] is not None


def test_imagenet_c_tree_missing_one_severity_says_why_in_the_log_and_the_tables(tmp_path, monkeypatch):
    """A tree without snow/3: mCE stays empty and the reason is in the metric, the log, results.md and the
    suite table (as a note of the robustness task)."""
    import os.path as osp
    import shutil

    from siameseim.robustness import evaluate
    from siameseim.robustness.toy import make_toy_benchmarks
    from siameseim.benchmark import SuiteCheckpoint, SuiteContext
    from siameseim.suite.runner import run_suite
    from siameseim.suite.table import to_markdown
    from siameseim.robustness.benchmark_tasks import RobustnessTask

    sets = make_toy_benchmarks(str(tmp_path / 'data'), per_class=1, size=16, corruption_size=16)
    shutil.rmtree(f"{sets['imagenet-c']}/snow/3")
    rows = [(dict(corruption=c, severity=s), dict(logits=torch.zeros(1000), label=1))
            for c in CORRUPTIONS for s in SEVERITIES if (c, s) != ('snow', 3)]
    metrics = collected(ImageNetCMetric, [zip(*rows)], 1)
    reason = 'mCE needs all 15 corruptions with severities 1-5: snow lacks severity 3'
    assert metrics['mce'] is None and metrics['mce_gap'] == reason

    classifier = evaluate.classifier_config(osp.join(REPO_ROOT,
                                                     'robustness', 'configs', 'vit-tiny_ft-4e_toy.py'))
    lines = []
    results = evaluate.run_benchmarks(classifier, str(tmp_path / 'data'),
                                      lambda name, cfg: {f'{name}/{key}': value for key, value in metrics.items()},
                                      sets=('imagenet-c', ), crop_size=16, resize=18, log=lines.append)
    assert any(line.endswith(reason) for line in lines)
    assert f'mCE not computed: {reason}.' in evaluate.results_markdown(results)

    monkeypatch.setattr(evaluate, 'classifier_config', lambda *args, **kwargs: classifier)
    monkeypatch.setattr(evaluate, 'run_benchmarks', lambda *args, **kwargs: results)
    task = RobustnessTask()
    task.missing_data = lambda ctx: None
    suite_log = []
    ctx = SuiteContext(out_dir=str(tmp_path / 'suite'), data_root=str(tmp_path / 'data'), log=suite_log.append)
    outcome = run_suite([SuiteCheckpoint('ckpt', None)], [_Finished(), task], ctx)
    stored = outcome['checkpoints']['ckpt']['tasks']['robustness']
    assert 'one_minus_mce' not in stored['metrics'] and stored['notes']['one_minus_mce'] == reason
    assert any(line.endswith(f'no one_minus_mce: {reason}') for line in suite_log)
    table = to_markdown(outcome, include_paper=False)
    assert f'* ckpt / 1 − mCE: {reason}' in table
    row = next(line for line in table.splitlines() if line.startswith('| ckpt'))
    assert row.rstrip(' |').endswith('–')


class _Finished:
    """A fine-tuning task that leaves what the robustness task reads: a checkpoint and its pointer."""

    name = 'finetune'
    requires = ()

    def missing_data(self, ctx):
        return None

    def run(self, checkpoint, work_dir, ctx, previous):
        torch.save({'state_dict': {'head.weight': torch.zeros(2, 2)}}, f'{work_dir}/epoch_1.pth')
        with open(f'{work_dir}/last_checkpoint', 'w') as f:
            f.write(f'{work_dir}/epoch_1.pth')
        return {}
