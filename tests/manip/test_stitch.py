import numpy as np
import pytest

from humanoid_teleop.manip.stitch import StitchConfig, StitchError, coverage, stitch_windows


def _smooth(length=101, dims=7):
    t = np.linspace(0, 2 * np.pi, length)[:, None]
    return np.sin(t * np.arange(1, dims + 1) / 2) + 0.1 * t


@pytest.mark.parametrize(("window", "stride"), [(16, 8), (16, 4), (10, 10), (12, 5), (1, 1)])
def test_noise_free_windows_reproduce_the_sequence_exactly(window, stride):
    seq = _smooth()
    cfg = StitchConfig(window=window, stride=stride)
    windows, starts = cfg.split(seq)
    assert starts[0] == 0 and starts[-1] + window == len(seq)
    out = stitch_windows(windows, starts)
    np.testing.assert_allclose(out, seq, atol=1e-12)
    tri = 1.0 + np.minimum(np.arange(window), np.arange(window)[::-1])
    np.testing.assert_allclose(stitch_windows(windows, starts, weights=tri), seq, atol=1e-12)


def test_overlap_averages_noise_down():
    rng = np.random.default_rng(0)
    seq = _smooth(length=400, dims=3)
    cfg = StitchConfig(window=32, stride=4)  # 8 windows cover each interior step
    windows, starts = cfg.split(seq)
    sigma = 0.05
    noisy = windows + rng.normal(0, sigma, windows.shape)
    out = stitch_windows(noisy, starts)
    counts = coverage(starts, cfg.window, len(seq))
    interior = counts >= 8
    err = np.sqrt(np.mean((out[interior] - seq[interior]) ** 2))
    assert err < sigma / np.sqrt(8) * 1.2
    assert err < sigma / 2.5


def test_gaps_and_bad_configs_raise():
    with pytest.raises(ValueError):
        StitchConfig(window=8, stride=9)
    with pytest.raises(StitchError):
        stitch_windows(np.zeros((2, 4, 1)), [0, 6])  # steps 4, 5 uncovered
    with pytest.raises(StitchError):
        StitchConfig(window=8, stride=4).starts(5)
