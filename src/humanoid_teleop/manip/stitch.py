"""Overlap averaging of action windows (PoseDiff's long-horizon stitching).

A video-to-action model predicts fixed-length windows of actions from sparse keyframes;
windows start every ``stride`` steps and overlap by ``window - stride``. Averaging every
step's predictions from all windows that cover it gives one long sequence: exact where the
windows agree, and independent per-window errors shrink by the overlap count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class StitchError(ValueError):
    """Windows that cannot be stitched (shape mismatch, a step no window covers)."""


@dataclass(frozen=True)
class StitchConfig:
    window: int = 16  # steps per predicted window
    stride: int = 8  # steps between window starts

    def __post_init__(self):
        if self.window < 1:
            raise ValueError(f"window: expected >= 1, got {self.window}")
        if not 1 <= self.stride <= self.window:
            # A stride beyond the window would leave steps no window predicts.
            raise ValueError(f"stride: expected 1 <= stride <= window {self.window}, "
                             f"got {self.stride}")  # fmt: skip

    def starts(self, length: int) -> np.ndarray:
        """(N,) window starts covering ``length`` steps; the last window ends at the end."""
        if length < self.window:
            raise StitchError(f"length {length} is shorter than one window ({self.window})")
        starts = list(range(0, length - self.window + 1, self.stride))
        if starts[-1] != length - self.window:
            starts.append(length - self.window)  # a final window flush with the end
        return np.array(starts)

    def split(self, sequence: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(T, D) -> (windows (N, window, D), starts (N,)): what a model would be asked for."""
        seq = np.asarray(sequence)
        starts = self.starts(len(seq))
        return np.stack([seq[s : s + self.window] for s in starts]), starts


def stitch_windows(
    windows: np.ndarray, starts: np.ndarray, length: int | None = None,
    weights: np.ndarray | None = None,
) -> np.ndarray:  # fmt: skip
    """Average overlapping windows (N, W, D) placed at ``starts`` (N,) into (T, D).

    ``weights`` (W,) > 0 weighs positions within a window (e.g. trust a window's centre more
    than its edges); uniform by default. ``length`` defaults to the last window's end; every
    step must be covered by some window.
    """
    win = np.asarray(windows, dtype=float)
    if win.ndim == 2:
        win = win[:, :, None]
    if win.ndim != 3 or len(win) == 0:
        raise StitchError(f"windows: expected (N, W, D) with N >= 1, got {win.shape}")
    n, w, d = win.shape
    starts = np.asarray(starts, dtype=int).reshape(-1)
    if len(starts) != n or np.any(starts < 0):
        raise StitchError(f"starts: expected {n} non-negative starts, got {starts}")
    total = int(starts.max()) + w if length is None else int(length)
    if total < int(starts.max()) + w:
        raise StitchError(f"length {total} ends before the last window ({starts.max() + w})")
    wts = np.ones(w) if weights is None else np.asarray(weights, dtype=float).reshape(-1)
    if wts.shape != (w,) or np.any(~(wts > 0)):
        raise StitchError(f"weights: expected ({w},) positive, got {wts}")
    acc = np.zeros((total, d))
    norm = np.zeros(total)
    for window, s in zip(win, starts):
        acc[s : s + w] += wts[:, None] * window
        norm[s : s + w] += wts
    if np.any(norm == 0):
        gaps = np.flatnonzero(norm == 0)
        raise StitchError(f"steps not covered by any window: {gaps[:10]}")
    out = acc / norm[:, None]
    return out if np.asarray(windows).ndim == 3 else out[:, 0]


def coverage(starts: np.ndarray, window: int, length: int) -> np.ndarray:
    """(T,) how many windows predict each step (the noise reduction factor is its root)."""
    counts = np.zeros(length, dtype=int)
    for s in np.asarray(starts, dtype=int):
        counts[s : s + window] += 1
    return counts
