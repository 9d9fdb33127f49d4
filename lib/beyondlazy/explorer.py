"""Explorers: figures a reader moves through, on the static website and live in Jupyter.

A static page cannot recompute, so an explorer has two faces:

* :func:`precomputed_frames` renders a sequence of frames ahead of time (matplotlib's
  ``FuncAnimation.to_jshtml``): the page carries every frame as an image and a slider with
  play/step buttons to scrub through them. Works on the website, in Jupyter and in Colab.
* :func:`live` wraps a drawing function in ipywidgets sliders; it recomputes on every move and
  therefore needs a running kernel (Jupyter, Binder, Colab).

Any chapter can use both: draw one frame with a function of the frame's parameter, call
:func:`precomputed_frames` with a grid of values for the website, and :func:`live` with sliders
for readers who run the notebook. Chapter 3 uses them for the small-init dynamics.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .plotting import course_style
from .validation import check_int, check_positive

__all__ = ["Frames", "live", "precomputed_frames"]


@dataclass(frozen=True)
class Frames:
    """Precomputed frames with a slider (self-contained HTML) and their text description."""

    html: str  # the player: every frame as an embedded PNG, a slider and buttons
    n_frames: int  # how many frames it holds
    alt: str  # what the frames show, in words (read by screen readers, shown in scripts)

    def _repr_html_(self) -> str:
        label = html.escape(self.alt, quote=True)
        return (f'<figure role="group" aria-label="{label}" style="margin:0">{self.html}'
                f'<figcaption style="font-size:85%">{html.escape(self.alt)}</figcaption></figure>')

    def __repr__(self) -> str:
        return f"[{self.n_frames} frames] {self.alt}"


def count_frames(player_html: str) -> int:
    """How many embedded images a ``to_jshtml`` player carries."""
    return len(re.findall(r"data:image/png;base64,", player_html))


def precomputed_frames(
    fig, update: Callable[[int], None], n_frames: int, *, alt: str, interval_ms: int = 300,
    dpi: int = 80,
) -> Frames:
    """Render ``update(0)``, …, ``update(n_frames − 1)`` on ``fig`` into a scrubbable player.

    ``update(i)`` redraws the figure for frame i (set data on existing artists, or clear and
    redraw). The figure is closed afterwards. ``alt`` describes what changes across the frames.
    The HTML holds every frame as a PNG: keep ``n_frames`` and ``dpi`` modest (a frame is
    typically 20–60 kB).
    """
    import tempfile

    import matplotlib
    import matplotlib.pyplot as plt
    from matplotlib.animation import HTMLWriter

    n_frames = check_int("n_frames", n_frames, minimum=1, maximum=200)
    interval_ms = check_int("interval_ms", interval_ms, minimum=1)
    check_positive("dpi", dpi)
    if not isinstance(alt, str) or len(alt.strip()) < 10:
        raise ValueError(
            f"alt must describe the frames in words (at least 10 characters); got {alt!r}")
    with matplotlib.rc_context({**course_style(), "savefig.bbox": None,
                                "animation.embed_limit": 60.0}):
        fig.set_dpi(dpi)
        # Lay the figure out once, on the first frame, then keep that layout: the frames do not
        # jump, and each is drawn without re-solving the layout over every tick label.
        update(0)
        fig.canvas.draw()
    # Then remove the layout engine (the axes keep the positions it gave them): with any engine
    # set, even the inert "none", savefig draws a frame twice, once to lay it out and once to
    # print it. set_layout_engine(None) removes it only where rcParams ask for no layout.
    with matplotlib.rc_context({"figure.autolayout": False,
                                "figure.constrained_layout.use": False}):
        fig.set_layout_engine(None)
    # Keep the axis labels and the titles where the first frame put them too: otherwise every
    # drawing measures each tick label again to place them (half of a frame's time).
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            where = axis.label.get_transform().transform(axis.label.get_position())
            axis.set_label_coords(*ax.transAxes.inverted().transform(where))
        ax._autotitlepos = False  # matplotlib's mark of a title placed by hand
    with matplotlib.rc_context({**course_style(), "savefig.bbox": None,
                                "figure.constrained_layout.use": False,
                                "animation.embed_limit": 60.0}):
        # matplotlib's HTML player, fed one drawing per frame (an animation object would draw
        # each frame twice: once to show it, once to save it).
        writer = HTMLWriter(fps=1000 / interval_ms, embed_frames=True, default_mode="once")
        with tempfile.TemporaryDirectory() as folder:
            page = Path(folder) / "player.html"
            with writer.saving(fig, str(page), dpi):
                for i in range(n_frames):
                    update(i)
                    writer.grab_frame()
            player = page.read_text()
    plt.close(fig)
    # matplotlib's player links Font Awesome 4 from a CDN for its button icons; the course's
    # website must not fetch anything, and its theme already serves Font Awesome (whose "fa"
    # classes draw the same icons), so the link is dropped.
    player = re.sub(r'<link rel="stylesheet"\s+href="https?://[^"]*font-awesome[^"]*">\s*', "", player)
    found = count_frames(player)
    if found != n_frames:  # pragma: no cover - guards against a change in matplotlib's player
        raise RuntimeError(f"the player holds {found} frames, expected {n_frames}")
    return Frames(html=player, n_frames=n_frames, alt=alt.strip())


def live(draw: Callable[..., object], **controls):
    """Sliders (ipywidgets) that call ``draw(**values)`` on every change; needs a live kernel.

    ``controls`` are ipywidgets controls or ``interactive`` abbreviations, e.g.
    ``alpha=ipywidgets.FloatLogSlider(value=1e-6, base=10, min=-10, max=-1)``, ``r=(2, 40, 2)``.
    ``draw`` should display its figure itself (e.g. with :func:`beyondlazy.plotting.show`). Returns the
    ``ipywidgets.interactive`` object (display it as the cell's last expression). On the static
    website the sliders show but cannot recompute: pair it with :func:`precomputed_frames`.
    """
    if not controls:
        raise ValueError("controls must name at least one parameter of draw; got none")
    import ipywidgets

    return ipywidgets.interactive(draw, {"manual": False}, **controls)
