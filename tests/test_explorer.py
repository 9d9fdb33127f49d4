"""Explorers: precomputed frames carry every frame and their description; live sliders call
the drawing function."""

from __future__ import annotations

import pytest

from beyondlazy import subplots
from beyondlazy.explorer import Frames, count_frames, live, precomputed_frames


def small_player(n_frames):
    fig, axes = subplots(1, width=2.0, height=1.5)
    (line,) = axes[0, 0].plot([0, 1], [0, 0])
    seen = []

    def update(i):
        seen.append(i)
        line.set_ydata([0, i])

    return precomputed_frames(fig, update, n_frames, alt="a line tilting up frame by frame",
                              dpi=30), seen


def test_player_holds_one_image_per_frame_and_draws_each_frame():
    frames, seen = small_player(4)
    assert isinstance(frames, Frames) and frames.n_frames == 4
    assert count_frames(frames.html) == 4
    assert set(seen) >= {0, 1, 2, 3}
    assert "<input" in frames.html and "range" in frames.html  # the slider


def test_player_draws_each_frame_once():
    """One drawing lays the figure out, then one per frame (savefig with a layout engine set
    would draw each frame twice)."""
    from matplotlib.lines import Line2D

    class CountedLine(Line2D):
        draws = 0

        def draw(self, renderer):
            CountedLine.draws += 1
            super().draw(renderer)

    fig, axes = subplots(1, width=2.0, height=1.5)
    line = CountedLine([0, 1], [0, 0])
    axes[0, 0].add_line(line)
    frames = precomputed_frames(fig, lambda i: line.set_ydata([0, i]), 5,
                                alt="a line tilting up frame by frame", dpi=30)
    assert count_frames(frames.html) == 5
    assert CountedLine.draws == 1 + 5


def test_frames_keep_the_first_frames_layout_when_tick_labels_widen():
    """The axis labels and the title stay where frame 0 put them, so the frames do not jump."""
    fig, axes = subplots(1, width=2.5, height=1.8)
    ax = axes[0, 0]
    (line,) = ax.plot([0, 1], [0, 1])
    ax.set(ylabel="value", title="growing")
    seen = []

    def update(i):  # the y range grows by 10⁴ a frame: the tick labels get wider
        seen.append((ax.yaxis.label.get_window_extent().x0, ax.title.get_window_extent().y0))
        line.set_ydata([0, 10.0 ** (4 * i)])
        ax.set_ylim(0, 10.0 ** (4 * i))

    precomputed_frames(fig, update, 4, alt="a line whose range grows frame by frame", dpi=40)
    drawn = seen[2:]  # positions as drawn by frames 0, 1 and 2
    assert all(position == drawn[0] for position in drawn), drawn


def test_player_html_carries_the_description():
    frames, _ = small_player(2)
    page = frames._repr_html_()
    assert 'aria-label="a line tilting up frame by frame"' in page
    assert "<figcaption" in page and "[2 frames]" in repr(frames)


def test_frames_need_a_description_and_a_sensible_count():
    fig, _ = subplots(1)
    with pytest.raises(ValueError, match="alt must"):
        precomputed_frames(fig, lambda i: None, 2, alt="")
    with pytest.raises(ValueError, match="n_frames must"):
        precomputed_frames(fig, lambda i: None, 0, alt="nothing to see at all")


def test_live_sliders_call_the_drawing_function():
    pytest.importorskip("ipywidgets")
    calls = []
    widget = live(lambda a, b: calls.append((a, b)), a=(0, 10, 1), b=(0.0, 1.0))
    widget.update()
    assert calls and calls[-1][0] == 5
    with pytest.raises(ValueError, match="controls"):
        live(lambda: None)


def test_player_fetches_nothing_from_the_network():
    frames, _ = small_player(2)
    page = frames._repr_html_()
    assert "http://" not in page and "https://" not in page
    assert "fa fa-play" in page  # the icons still use the theme's Font Awesome classes
