"""One figure style for the whole course, and figures that carry alt text.

* Colours come from the Okabe–Ito palette, which stays distinguishable under the common forms of
  colour blindness; line styles differ as well, so figures also read in greyscale.
* :func:`plot_spread` draws the median over seeds with a band from the minimum to the maximum:
  wherever randomness matters, the reader sees the spread, not one lucky run.
* :func:`show` displays a figure together with a text description (the ``alt`` attribute of the
  image on the website, and the plain-text output elsewhere). Every figure of the course goes
  through it.
* Nothing here plots NaN: values from diverged runs are refused with a clear error.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence

import matplotlib
import torch

from .analysis import loglog_slope

__all__ = [
    "COLORS",
    "FigureWithAlt",
    "LINESTYLES",
    "course_style",
    "plot_power_law_fit",
    "plot_spread",
    "show",
    "subplots",
    "use_course_style",
]

#: Okabe–Ito colours, by name, in the order the course uses them.
COLORS = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "green": "#009E73",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "sky": "#56B4E9",
    "yellow": "#F0E442",
    "black": "#000000",
}
LINESTYLES = ("-", "--", "-.", ":")

_STYLE = {
    "axes.prop_cycle": matplotlib.cycler(color=list(COLORS.values())[:6]),
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "lines.linewidth": 1.8,
    "figure.dpi": 110,
    "savefig.dpi": 110,
    "savefig.bbox": "tight",
    "figure.constrained_layout.use": True,
}


def course_style() -> dict:
    """The course's matplotlib rc settings (a copy)."""
    return dict(_STYLE)


def use_course_style() -> None:
    """Apply the course style to every later figure of this process."""
    matplotlib.rcParams.update(_STYLE)


def subplots(ncols: int = 1, nrows: int = 1, *, width: float = 4.2, height: float = 3.2, **kwargs):
    """``plt.subplots`` with a panel size in inches and the course style; returns ``(fig, axes)``."""
    import matplotlib.pyplot as plt

    with matplotlib.rc_context(_STYLE):
        return plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False, **kwargs)


def _finite(name: str, values: torch.Tensor) -> torch.Tensor:
    values = torch.as_tensor(values, dtype=torch.float64).detach().cpu()
    if not bool(torch.isfinite(values).all()):
        raise ValueError(
            f"{name} must be finite to be plotted; got {int((~torch.isfinite(values)).sum())} NaN or "
            "infinite values. A run that diverged is marked in Trajectory.diverged: drop it (and "
            "say so in the text), or rerun it with a smaller step size."
        )
    return values


def plot_spread(
    ax, x: Sequence[float] | torch.Tensor, runs: torch.Tensor, *, label: str,
    color: str | None = None, linestyle: str = "-", show_runs: bool = False,
):
    """Median over runs (one row of ``runs`` per seed) with a min–max band.

    ``runs`` has shape (n_seeds, len(x)). Returns the median line.
    """
    x = _finite("x", torch.as_tensor(x))
    runs = _finite(label, runs)
    if runs.ndim != 2 or runs.shape[1] != x.shape[0]:
        raise ValueError(
            f"runs must have shape (n_seeds, len(x)) = (*, {x.shape[0]}); got {tuple(runs.shape)}"
        )
    median = runs.quantile(0.5, dim=0)  # the average of the middle two for an even count
    suffix = f" (median, band: range over {runs.shape[0]} seeds)" if runs.shape[0] > 1 else ""
    (line,) = ax.plot(x, median, color=color, linestyle=linestyle, label=label + suffix)
    if runs.shape[0] > 1:
        ax.fill_between(x, runs.min(0).values, runs.max(0).values, color=line.get_color(),
                        alpha=0.2, linewidth=0)
    if show_runs:
        for row in runs:
            ax.plot(x, row, color=line.get_color(), linewidth=0.6, alpha=0.5)
    return line


def plot_power_law_fit(ax, x, y, *, color: str = COLORS["black"], name: str = "fit") -> float:
    """Fit y ≈ C x^γ on log-log axes, draw the fit dashed and return the exponent γ."""
    x = _finite("x", torch.as_tensor(x))
    y = _finite("y", torch.as_tensor(y))
    slope, intercept = loglog_slope(x, y)
    xs = torch.logspace(float(x.log10().min()), float(x.log10().max()), 50, dtype=torch.float64)
    ax.plot(xs, torch.exp(intercept + slope * xs.log()), color=color, linestyle="--",
            linewidth=1.2, label=f"{name}: slope {slope:.2f}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    return slope


class FigureWithAlt:
    """A rendered figure with its alt text; displays as an accessible image in Jupyter and the book."""

    def __init__(self, png: bytes, alt: str):
        self.png, self.alt = png, alt

    def _repr_html_(self) -> str:
        data = base64.b64encode(self.png).decode("ascii")
        return (f'<img src="data:image/png;base64,{data}" alt="{html.escape(self.alt, quote=True)}" '
                'style="max-width:100%;height:auto" />')

    def _repr_png_(self) -> bytes:
        return self.png

    def __repr__(self) -> str:
        return f"[figure] {self.alt}"


def show(fig, alt: str) -> FigureWithAlt | None:
    """Display ``fig`` with the description ``alt`` (required), then close it.

    In Jupyter the figure is displayed; elsewhere (a script) the :class:`FigureWithAlt` is
    returned.
    """
    if not isinstance(alt, str) or len(alt.strip()) < 10:
        raise ValueError(
            f"alt must describe the figure in words (at least 10 characters); got {alt!r}"
        )
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    figure = FigureWithAlt(buffer.getvalue(), alt.strip())
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython comes with ipywidgets
        return figure
    if get_ipython() is None:
        return figure
    display(figure)
    return None
