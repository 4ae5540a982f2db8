"""Visual-plan grids: 9 frames as a 3x3 image in snake order, and trajectory overlays.

The visual planner (arXiv 2512.00532) generates a whole plan as one image: a 3x3 grid read
in snake order (row 0 left->right, row 1 right->left, row 2 left->right) so consecutive
frames are always adjacent cells, which is what the image model learns to keep coherent.
The first cell is the given frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

GRID_ROWS = 3
GRID_COLS = 3
GRID_CELLS = GRID_ROWS * GRID_COLS


class GridError(ValueError):
    """Frames or a grid image do not have the shape a 3x3 plan grid needs."""


def snake_cell(index: int) -> tuple[int, int]:
    """(row, col) of plan frame ``index`` (0..8) in the grid."""
    if not 0 <= index < GRID_CELLS:
        raise GridError(f"frame index: expected 0..{GRID_CELLS - 1}, got {index}")
    row, k = divmod(index, GRID_COLS)
    col = k if row % 2 == 0 else GRID_COLS - 1 - k
    return row, col


def compose_grid(frames: Sequence[np.ndarray]) -> np.ndarray:
    """9 frames, each (H, W, C) of one dtype, -> (3H, 3W, C) grid in snake order."""
    if len(frames) != GRID_CELLS:
        raise GridError(f"expected {GRID_CELLS} frames, got {len(frames)}")
    first = np.asarray(frames[0])
    if first.ndim != 3 or first.shape[0] == 0 or first.shape[1] == 0:
        raise GridError(f"frames: expected (H, W, C), got {first.shape}")
    h, w, _ = first.shape
    grid = np.zeros((GRID_ROWS * h, GRID_COLS * w, first.shape[2]), dtype=first.dtype)
    for i, frame in enumerate(frames):
        frame = np.asarray(frame)
        if frame.shape != first.shape or frame.dtype != first.dtype:
            raise GridError(
                f"frame {i}: expected {first.shape} {first.dtype}, got {frame.shape} {frame.dtype}"
            )
        r, c = snake_cell(i)
        grid[r * h : (r + 1) * h, c * w : (c + 1) * w] = frame
    return grid


def decompose_grid(grid: np.ndarray) -> list[np.ndarray]:
    """(3H, 3W, C) grid -> 9 frames (H, W, C) in plan order (copies, not views)."""
    grid = np.asarray(grid)
    if grid.ndim != 3 or grid.shape[0] % GRID_ROWS or grid.shape[1] % GRID_COLS:
        raise GridError(f"grid: expected (3H, 3W, C), got {grid.shape}")
    h, w = grid.shape[0] // GRID_ROWS, grid.shape[1] // GRID_COLS
    if h == 0 or w == 0:
        raise GridError(f"grid: empty cells in {grid.shape}")
    frames = []
    for i in range(GRID_CELLS):
        r, c = snake_cell(i)
        frames.append(grid[r * h : (r + 1) * h, c * w : (c + 1) * w].copy())
    return frames


@dataclass(frozen=True)
class ArrowStyle:
    color_rgb: tuple[int, int, int] = (255, 40, 40)
    thickness_px: int = 3
    head_length_px: float = 12.0  # the arrowhead's size, independent of the last segment's

    def __post_init__(self):
        if len(self.color_rgb) != 3 or not all(0 <= v <= 255 for v in self.color_rgb):
            raise ValueError(f"color_rgb: expected three values in 0..255, got {self.color_rgb}")
        if self.thickness_px < 1:
            raise ValueError(f"thickness_px: expected >= 1, got {self.thickness_px}")
        if self.head_length_px <= 0:
            raise ValueError(f"head_length_px: expected > 0, got {self.head_length_px}")


def draw_trajectory(
    frame_rgb: np.ndarray, points_px: np.ndarray, style: ArrowStyle | None = None
) -> np.ndarray:
    """A copy of ``frame_rgb`` (H, W, 3) uint8 with the polyline ``points_px`` (N, 2) (x, y)
    drawn and an arrowhead at its last point, the way the planner's trajectory prompt looks.

    Drawn with cv2's non-antialiased lines (LINE_8) so the pixels are exactly reproducible.
    """
    import cv2  # lazy: only overlays need OpenCV

    style = style or ArrowStyle()
    frame = np.asarray(frame_rgb)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise GridError(f"frame_rgb: expected (H, W, 3) uint8, got {frame.shape} {frame.dtype}")
    pts = np.asarray(points_px, dtype=float)
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 2 or not np.all(np.isfinite(pts)):
        raise GridError(f"points_px: expected (N >= 2, 2) finite, got {pts.shape}")
    out = np.ascontiguousarray(frame.copy())
    color = tuple(int(v) for v in style.color_rgb)  # the image is RGB; cv2 does not care
    ipts = np.round(pts).astype(np.int32)
    cv2.polylines(out, [ipts.reshape(-1, 1, 2)], False, color, style.thickness_px, cv2.LINE_8)
    # The arrowhead follows the direction of the last non-degenerate segment.
    tip = pts[-1]
    back = next((p for p in pts[-2::-1] if np.linalg.norm(tip - p) > 1e-9), None)
    if back is not None:
        d = (tip - back) / np.linalg.norm(tip - back)
        for angle in (np.deg2rad(150.0), np.deg2rad(-150.0)):
            c, s = np.cos(angle), np.sin(angle)
            wing = tip + style.head_length_px * np.array([c * d[0] - s * d[1], s * d[0] + c * d[1]])
            cv2.line(out, tuple(np.round(tip).astype(int)), tuple(np.round(wing).astype(int)),
                     color, style.thickness_px, cv2.LINE_8)  # fmt: skip
    return out


def summary_indices(num_frames: int, count: int = 4) -> np.ndarray:
    """``count`` frame indices spread evenly over a video, first and last included."""
    if num_frames < 1 or count < 1:
        raise GridError(f"expected num_frames >= 1 and count >= 1, got {num_frames}, {count}")
    return np.round(np.linspace(0, num_frames - 1, count)).astype(int)


def summary_image(frames: Sequence[np.ndarray]) -> np.ndarray:
    """A (2H, 2W, C) image of 4 evenly spaced frames in reading order: what the VLM success
    filter looks at to judge a generated video in one query."""
    if len(frames) == 0:
        raise GridError("summary_image: no frames")
    picked = [np.asarray(frames[i]) for i in summary_indices(len(frames), 4)]
    first = picked[0]
    if any(f.shape != first.shape or f.dtype != first.dtype for f in picked) or first.ndim != 3:
        raise GridError("summary_image: frames must share one (H, W, C) shape and dtype")
    return np.concatenate(
        [np.concatenate(picked[:2], axis=1), np.concatenate(picked[2:], axis=1)], axis=0
    )
