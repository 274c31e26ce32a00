"""ImageNet-C corruption error, mCE normalised by AlexNet, relative mCE and the paper's 1 − mCE.

With ``E[c][s]`` the top-1 error (fraction) on corruption ``c`` at severity ``s`` (docs/protocols.md §4.5):

* ``CE_c = Σ_s E[c][s] / Σ_s E^AlexNet[c][s] = mean_s E[c][s] / A_c``
* ``mCE = 100 · mean_c CE_c`` over the 15 test corruptions (AlexNet = 100; lower is better)
* ``relative CE_c = (mean_s E[c][s] − E_clean) / (A_c − A_clean)``, relative mCE = 100 · mean_c
* SiameseIM's table column "IN-C 1−mCE" is ``100 − mCE`` (MAE's mCE 51.7 appears there as 48.3).
"""
from typing import Dict, Mapping, Optional

CORRUPTIONS = ('gaussian_noise', 'shot_noise', 'impulse_noise', 'defocus_blur', 'glass_blur', 'motion_blur',
               'zoom_blur', 'snow', 'frost', 'fog', 'brightness', 'contrast', 'elastic_transform', 'pixelate',
               'jpeg_compression')
VALIDATION_CORRUPTIONS = ('speckle_noise', 'gaussian_blur', 'spatter', 'saturate')
SEVERITIES = (1, 2, 3, 4, 5)

# AlexNet top-1 error averaged over the 5 severities (Hendrycks & Dietterich's spreadsheet, as in AugMix).
ALEXNET_ERRORS: Dict[str, float] = {
    'gaussian_noise': 0.886428, 'shot_noise': 0.894468, 'impulse_noise': 0.922640, 'defocus_blur': 0.819880,
    'glass_blur': 0.826268, 'motion_blur': 0.785948, 'zoom_blur': 0.798360, 'snow': 0.866816,
    'frost': 0.826572, 'fog': 0.819324, 'brightness': 0.564592, 'contrast': 0.853204,
    'elastic_transform': 0.646056, 'pixelate': 0.717840, 'jpeg_compression': 0.606500,
}
# AlexNet clean val error: 43.5 % in the paper; the spreadsheet's exact value is unverified.
ALEXNET_CLEAN_ERROR = 0.4345


def corruption_errors(errors: Mapping[str, Mapping[int, float]]) -> Dict[str, float]:
    """``CE_c`` (fraction, AlexNet = 1) for each corruption in ``errors`` that has all 5 severities."""
    result = {}
    for corruption, by_severity in errors.items():
        if corruption not in ALEXNET_ERRORS:
            raise ValueError(f'{corruption!r} is not one of the 15 ImageNet-C test corruptions {CORRUPTIONS}')
        missing = [s for s in SEVERITIES if s not in by_severity]
        if missing:
            raise ValueError(f'{corruption}: severities {missing} are missing; CE needs all of {SEVERITIES}')
        result[corruption] = sum(by_severity[s] for s in SEVERITIES) / (len(SEVERITIES) * ALEXNET_ERRORS[corruption])
    return result


def mce_gap(errors: Mapping[str, Mapping[int, float]]) -> Optional[str]:
    """Why mCE cannot be computed from ``errors`` (the corruptions and severities absent), or None."""
    gaps = []
    for corruption in CORRUPTIONS:
        absent = [str(s) for s in SEVERITIES if s not in errors.get(corruption, {})]
        if corruption not in errors:
            gaps.append(f'{corruption} is missing')
        elif absent:
            gaps.append(f'{corruption} lacks severit{"y" if len(absent) == 1 else "ies"} {", ".join(absent)}')
    if not gaps:
        return None
    return (f'mCE needs all {len(CORRUPTIONS)} corruptions with severities 1-{len(SEVERITIES)}: '
            + '; '.join(gaps))


def summarize_imagenet_c(errors: Mapping[str, Mapping[int, float]],
                         clean_error: Optional[float] = None) -> dict:
    """Per-corruption CE and relative CE, and mCE / relative mCE / 100 − mCE (percent) when all 15 exist.

    ``errors[c][s]`` are fractions; corruptions without all 5 severities are listed in ``incomplete`` and left
    out of every mean; ``mce_gap`` then says why mCE is empty. Relative values need the model's
    ``clean_error`` (fraction) on ImageNet val.
    """
    complete = {c: by_s for c, by_s in errors.items() if all(s in by_s for s in SEVERITIES)}
    ce = corruption_errors(complete)
    summary = dict(
        errors={c: {str(s): 100.0 * e for s, e in sorted(by_s.items())} for c, by_s in errors.items()},
        ce={c: 100.0 * ce[c] for c in CORRUPTIONS if c in ce},
        incomplete=sorted(set(errors) - set(complete)),
        mce=None, one_minus_mce=None, relative_mce=None, relative_ce=None, mce_gap=mce_gap(errors),
        convention='mCE normalised by AlexNet (100 = AlexNet, lower is better); the SiameseIM table reports '
                   '"1 - mCE" = 100 - mCE (higher is better)')
    if clean_error is not None:
        summary['relative_ce'] = {
            c: 100.0 * (sum(complete[c][s] for s in SEVERITIES) / len(SEVERITIES) - clean_error) /
            (ALEXNET_ERRORS[c] - ALEXNET_CLEAN_ERROR) for c in CORRUPTIONS if c in complete}
    if len(ce) == len(CORRUPTIONS):
        summary['mce'] = sum(summary['ce'].values()) / len(CORRUPTIONS)
        summary['one_minus_mce'] = 100.0 - summary['mce']
        if clean_error is not None:
            summary['relative_mce'] = sum(summary['relative_ce'].values()) / len(CORRUPTIONS)
    return summary
