"""Copy the JavaScript the website serves itself into the folder Sphinx publishes as /vendor/.

    python -m tools.vendor_js node_modules _vendor

Run by `make book` after `npm ci` (package.json pins the versions): require.js, and the
@jupyter-widgets/html-manager bundle that renders saved ipywidgets (matching ipywidgets 8) with
its fonts, plus a small script that points the widget manager at these local files. With them, a
page with widgets needs no network. The folder is published through `html_extra_path`, so none of
it is added to every page (which Jupyter Book does for everything under `_static/`).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

FONT_SUFFIXES = {".woff", ".woff2", ".ttf", ".eot", ".svg"}

# Loaded before require.js and embed-amd.js on pages that hold widgets (nb_ipywidgets_js).
OFFLINE_SHIM = """\
// Serve the widget manager and its fonts from this site instead of a CDN. require.js resolves
// the manager's modules to the local bundle; the manager then loads its fonts from
// <bundle>/dist/, where tools/vendor_js.py puts them.
(function () {
  var here = document.currentScript.src.replace(/[^/]*$/, "");
  var bundle = here + "html-manager/embed-amd";
  window.require = {
    paths: {
      "@jupyter-widgets/html-manager": bundle,
      "@jupyter-widgets/base": bundle,
      "@jupyter-widgets/controls": bundle,
      "@jupyter-widgets/output": bundle
    }
  };
  // The widget manager typesets labels with MathJax 2's MathJax.Hub.Queue; the site runs
  // MathJax 3, so give it the one call it makes.
  document.addEventListener("DOMContentLoaded", function () {
    if (window.MathJax && !window.MathJax.Hub) {
      window.MathJax.Hub = {
        Queue: function () {
          if (window.MathJax.typesetPromise) { window.MathJax.typesetPromise(); }
        }
      };
    }
  });
})();
"""


def vendor(node_modules: Path, dest: Path) -> list[Path]:
    target = dest / "vendor"
    if target.exists():
        shutil.rmtree(target)
    fonts = target / "html-manager" / "embed-amd" / "dist"
    fonts.mkdir(parents=True)
    manager = node_modules / "@jupyter-widgets" / "html-manager" / "dist"
    copied = [shutil.copy2(node_modules / "requirejs" / "require.js", target / "require.js")]
    copied.append(shutil.copy2(manager / "embed-amd.js", target / "html-manager" / "embed-amd.js"))
    for font in sorted(manager.iterdir()):
        if font.suffix in FONT_SUFFIXES:
            copied.append(shutil.copy2(font, fonts / font.name))
    (target / "widgets-offline.js").write_text(OFFLINE_SHIM)
    copied.append(target / "widgets-offline.js")
    return [Path(p) for p in copied]


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print("usage: python -m tools.vendor_js NODE_MODULES DEST", file=sys.stderr)
        sys.exit(2)
    files = vendor(Path(sys.argv[1]), Path(sys.argv[2]))
    size = sum(f.stat().st_size for f in files)
    print(f"vendor_js: {len(files)} files, {size / 1e6:.1f} MB into {sys.argv[2]}/vendor")
