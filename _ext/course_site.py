"""Small fixes to the website that Jupyter Book 1 cannot be configured to make.

- Jupyter Book 1.0 registers the inline configuration scripts of sphinx-togglebutton and
  sphinx-thebe twice; the second copy of `const THEBE_JS_URL` is a JavaScript error on every page.
  Each page keeps only the first copy of every script.
- The theme's colour mode defaults to an empty value, which its JavaScript reports as an error;
  it is set to follow the reader's system ("auto").
"""

from __future__ import annotations


def _one_copy_of_each_script(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        attributes = tuple(sorted((k, str(v)) for k, v in getattr(script, "attributes", {}).items()))
        # Not the priority; and inline scripts are registered with filename None or "".
        key = (str(getattr(script, "filename", script) or ""), attributes)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def _default_colour_mode(app, pagename, templatename, context, doctree):
    if not context.get("default_mode"):
        context["default_mode"] = "auto"


def setup(app):
    app.connect("html-page-context", _default_colour_mode)
    # Early: a later handler may return a template name, which stops the event (emit_firstresult).
    app.connect("html-page-context", _one_copy_of_each_script, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
