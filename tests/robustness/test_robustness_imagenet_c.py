"""ImageNet-C corruptions on NumPy 2 without scikit-image/Wand, and the generated tree layout."""
import colorsys
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from siameseim.robustness.datasets import scan_wnid_folder
from siameseim.robustness.datasets import imagenet_c_folders
from siameseim.robustness.imagenet_c import corrupt
from siameseim.robustness.imagenet_c.corruptions import brightness, contrast, gaussian_noise, impulse_noise, \
    motion_blur_kernel_blur
from siameseim.robustness.metrics import CORRUPTIONS, SEVERITIES
from siameseim.robustness.cli import make_imagenet_c


@pytest.fixture(scope='module')
def image():
    yy, xx = np.mgrid[0:224, 0:224]
    pixels = np.stack([xx, yy, 255 - xx], -1).astype(np.float64)
    pixels[60:160, 60:160] = [250, 200, 40]
    pixels += 40 * ((yy // 3 + xx // 3) % 2)[..., None]  # fine texture, so pixelate and blurs change it
    return np.clip(pixels, 0, 255).astype(np.uint8)


@pytest.mark.parametrize('corruption', CORRUPTIONS)
def test_every_corruption_and_severity(image, corruption):
    outputs = [corrupt(image, corruption, s, np.random.RandomState(0)) for s in SEVERITIES]
    for out in outputs:
        assert out.shape == (224, 224, 3) and out.dtype == np.uint8
        assert np.abs(out.astype(int) - image).mean() > 1, corruption
    again = corrupt(image, corruption, 3, np.random.RandomState(0))
    assert np.array_equal(again, outputs[2])


def test_noise_severity_grows(image):
    deviation = [np.abs(corrupt(image, 'gaussian_noise', s, np.random.RandomState(0)).astype(int) - image).mean()
                 for s in SEVERITIES]
    assert deviation == sorted(deviation)


def test_gaussian_noise_and_contrast_formulas(image):
    x = image / 255.
    expected = np.clip(x + np.random.RandomState(3).normal(size=x.shape, scale=0.18), 0, 1) * 255
    assert np.allclose(gaussian_noise(image, 3, np.random.RandomState(3)), expected)
    mean = x.mean(axis=(0, 1))
    assert np.allclose(contrast(image, 4, None), np.clip((x - mean) * 0.1 + mean, 0, 1) * 255)


def test_impulse_noise_flips_the_requested_fraction(image):
    out = impulse_noise(image, 5, np.random.RandomState(0))
    changed = out != image / 255. * 255
    assert abs(changed.mean() - 0.27) < 0.01
    assert set(np.unique(out[changed])) <= {0.0, 255.0}


def test_brightness_equals_an_hsv_round_trip():
    pixels = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    pixels[0, 0] = 0  # black: V = 0 becomes grey
    ours = brightness(pixels, 2, None)
    reference = np.empty_like(ours)
    for (i, j), _ in np.ndenumerate(pixels[..., 0]):
        h, s, v = colorsys.rgb_to_hsv(*(pixels[i, j] / 255.))
        reference[i, j] = np.array(colorsys.hsv_to_rgb(h, s, min(v + 0.2, 1.0))) * 255
    assert np.allclose(ours, reference, atol=1e-6)


def test_motion_blur_spreads_a_point_along_the_angle():
    point = np.zeros((21, 21), dtype=np.float32)
    point[10, 10] = 1.0
    blurred = motion_blur_kernel_blur(point, radius=3, sigma=2, angle=0)
    assert blurred.sum() == pytest.approx(1.0, abs=1e-6)
    assert np.count_nonzero(blurred[10]) == 7 and np.count_nonzero(blurred) == 7  # one row, 2·3+1 taps
    assert np.argmax(blurred[10]) == 10 and blurred[10, 11:].sum() == 0          # trailing one way only


def test_bad_arguments(image):
    with pytest.raises(ValueError, match='unknown corruption'):
        corrupt(image, 'speckle', 1)
    with pytest.raises(ValueError, match='severity must be 1..5'):
        corrupt(image, 'fog', 6)
    with pytest.raises(ValueError, match='RGB uint8'):
        corrupt(image[..., 0], 'fog', 1)


def test_generated_tree_is_what_the_evaluator_reads(tmp_path, capsys):
    src = tmp_path / 'val'
    for wnid, size in (('n01440764', (300, 260)), ('n01443537', (256, 256))):
        os.makedirs(src / wnid)
        Image.new('RGB', size, (120, 30, 200)).save(src / wnid / f'{wnid}_0.JPEG')
    Image.new('RGB', (250, 250), (1, 2, 3)).save(src / 'n01443537' / 'extra.png')
    dst = tmp_path / 'imagenet-c'
    args = [str(src), str(dst), '--corruptions', 'fog', 'pixelate', '--severities', '1', '5', '--workers', '0']
    assert make_imagenet_c.main(args) == 0
    assert 'wrote 12 images' in capsys.readouterr().out
    folders = imagenet_c_folders(str(dst))
    assert {c: sorted(s) for c, s in folders.items()} == {'fog': [1, 5], 'pixelate': [1, 5]}
    samples = scan_wnid_folder(folders['fog'][5])
    assert [osp.basename(p) for p, _ in samples] == ['n01440764_0.JPEG', 'extra.JPEG', 'n01443537_0.JPEG']
    assert [label for _, label in samples] == [0, 1, 1]
    with Image.open(samples[0][0]) as out:
        assert out.size == (224, 224) and out.format == 'JPEG'
    assert make_imagenet_c.main(args) == 0                       # resumes: nothing left to write
    assert 'wrote 0 images' in capsys.readouterr().out


def test_generation_errors_are_one_line(tmp_path, capsys):
    assert make_imagenet_c.main([str(tmp_path / 'none'), str(tmp_path / 'out')]) == 1
    assert 'does not exist' in capsys.readouterr().err
    (tmp_path / 'src' / 'n01440764').mkdir(parents=True)
    (tmp_path / 'src' / 'n01440764' / 'bad.JPEG').write_bytes(b'garbage')
    assert make_imagenet_c.main([str(tmp_path / 'src'), str(tmp_path / 'out'), '--workers', '0',
                                 '--corruptions', 'fog']) == 1
    assert 'cannot decode image' in capsys.readouterr().err
    assert make_imagenet_c.main([str(tmp_path / 'src'), str(tmp_path / 'out'), '--corruptions', 'blur']) == 1
    assert "unknown corruption(s) ['blur']" in capsys.readouterr().err


# (pixel, severity) -> skimage's rgb2hsv / V + c / hsv2rgb, truncated to uint8 (the original brightness):
# pixels where the closed form rgb * V'/V lands one level off after truncation.
BRIGHTNESS_ORACLE = [((153, 25, 42), 1, (178, 29, 49)), ((69, 69, 69), 2, (120, 120, 120)),
                     ((126, 36, 180), 3, (178, 51, 255)), ((93, 93, 93), 4, (195, 195, 195)),
                     ((10, 136, 64), 5, (18, 255, 119))]


@pytest.mark.parametrize('pixel,severity,expected', BRIGHTNESS_ORACLE)
def test_brightness_is_bit_exact_to_the_original_hsv_round_trip(pixel, severity, expected):
    image = np.full((2, 2, 3), pixel, dtype=np.uint8)
    assert tuple(corrupt(image, 'brightness', severity)[0, 0]) == expected


def test_brightness_equals_skimage_on_every_value():
    color = pytest.importorskip('skimage.color')
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (64, 64, 3)).astype(np.uint8)
    image[:4] = image[:4, :, :1]  # greys (zero saturation, the hue set to 0)
    image[4] = 0                  # black (V = 0)
    for severity, c in zip(SEVERITIES, (.1, .2, .3, .4, .5)):
        hsv = color.rgb2hsv(image / 255.)
        hsv[:, :, 2] = np.clip(hsv[:, :, 2] + c, 0, 1)
        assert np.array_equal(brightness(image, severity, None), np.clip(color.hsv2rgb(hsv), 0, 1) * 255)


def test_snow_quantises_its_layer_like_the_original(image, monkeypatch):
    """The original truncates the snow layer to an 8-bit PNG, blurs it with ImageMagick, gets 8 bits back.

    With the blur replaced by a known function, snow equals the original's code path step by step."""
    from scipy.ndimage import zoom as scizoom

    from siameseim.robustness.imagenet_c import corruptions

    seen = []

    def blur(layer, radius, sigma, angle):
        seen.append(layer.copy())
        return layer * 0.7 + 0.3

    monkeypatch.setattr(corruptions, 'motion_blur_kernel_blur', blur)
    severity, c = 3, (0.55, 0.3, 4, 0.9, 12, 8, 0.7)
    ours = corruptions.snow(image, severity, np.random.RandomState(5))

    rng = np.random.RandomState(5)
    x = np.array(image, dtype=np.float32) / 255.
    layer = rng.normal(size=x.shape[:2], loc=c[0], scale=c[1])[..., np.newaxis]
    ch = int(np.ceil(224 / c[2]))
    top = (224 - ch) // 2
    layer = scizoom(layer[top:top + ch, top:top + ch], (c[2], c[2], 1), order=1)
    trim = (layer.shape[0] - 224) // 2
    layer = layer[trim:trim + 224, trim:trim + 224]
    layer[layer < c[3]] = 0
    png = (np.clip(layer.squeeze(), 0, 1) * 255).astype(np.uint8)
    rng.uniform(-135, -45)
    assert np.array_equal(seen[0], png)
    magick = np.floor(png * 0.7 + 0.3 + 0.5).astype(np.uint8)  # ImageMagick's 8-bit output, rounded
    layer = (magick / 255.)[..., np.newaxis]
    x = c[6] * x + (1 - c[6]) * np.maximum(x, cv2_gray(x) * 1.5 + 0.5)
    expected = np.clip(x + layer + np.rot90(layer, k=2), 0, 1) * 255
    assert np.array_equal(ours, expected)


def cv2_gray(x):
    import cv2
    return cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).reshape(x.shape[0], x.shape[1], 1)
