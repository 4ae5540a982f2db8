import hashlib

import numpy as np
import pytest

from humanoid_teleop.manip.grid import (
    ArrowStyle,
    GridError,
    compose_grid,
    decompose_grid,
    draw_trajectory,
    snake_cell,
)


def _frames(h=4, w=5):
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(9)]


def test_snake_order():
    cells = [snake_cell(i) for i in range(9)]
    assert cells == [(0, 0), (0, 1), (0, 2), (1, 2), (1, 1), (1, 0), (2, 0), (2, 1), (2, 2)]


def test_compose_places_first_frame_top_left_and_snakes():
    frames = [np.full((2, 3, 1), i, dtype=np.uint8) for i in range(9)]
    grid = compose_grid(frames)
    assert grid.shape == (6, 9, 1)
    cell_values = grid[::2, ::3, 0]
    np.testing.assert_array_equal(cell_values, [[0, 1, 2], [5, 4, 3], [6, 7, 8]])


def test_round_trip_is_exact():
    frames = _frames()
    back = decompose_grid(compose_grid(frames))
    assert len(back) == 9
    for a, b in zip(frames, back):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    grid = compose_grid(frames)
    np.testing.assert_array_equal(compose_grid(decompose_grid(grid)), grid)


def test_bad_inputs_raise():
    frames = _frames()
    with pytest.raises(GridError):
        compose_grid(frames[:8])
    with pytest.raises(GridError):
        compose_grid([*frames[:8], np.zeros((4, 6, 3), np.uint8)])
    with pytest.raises(GridError):
        decompose_grid(np.zeros((10, 9, 3), np.uint8))


def test_overlay_golden_checksum():
    frame = np.zeros((32, 48, 3), np.uint8)
    frame[:, :, 2] = np.arange(48, dtype=np.uint8)[None, :] * 5
    pts = np.array([[4.0, 28.0], [20.0, 10.0], [40.0, 16.0]])
    out = draw_trajectory(frame, pts, ArrowStyle(thickness_px=1, head_length_px=6.0))
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert not np.array_equal(out, frame)
    np.testing.assert_array_equal(frame[:, :, 0], 0)  # the input is not modified
    # Every drawn pixel is the arrow colour; the path's end and start are drawn.
    drawn = np.any(out != frame, axis=2)
    np.testing.assert_array_equal(out[drawn], np.tile([255, 40, 40], (int(drawn.sum()), 1)))
    assert drawn[16, 40] and drawn[28, 4]
    assert hashlib.sha256(out.tobytes()).hexdigest() == GOLDEN
    np.testing.assert_array_equal(
        draw_trajectory(frame, pts, ArrowStyle(thickness_px=1, head_length_px=6.0)), out
    )


GOLDEN = "b54dee74a2ab665d035e5a4b0215b5ff98ccd90dab9fb8c0a736bf93c53fa6b4"


def test_summary_image_picks_first_last_and_two_between():
    from humanoid_teleop.manip.grid import summary_image, summary_indices

    np.testing.assert_array_equal(summary_indices(10), [0, 3, 6, 9])
    frames = [np.full((2, 3, 1), i, np.uint8) for i in range(10)]
    img = summary_image(frames)
    assert img.shape == (4, 6, 1)
    np.testing.assert_array_equal(img[::2, ::3, 0], [[0, 3], [6, 9]])
    with pytest.raises(GridError):
        summary_image([])
