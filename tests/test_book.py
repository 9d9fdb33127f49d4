"""The course book's conventions: notebooks, configuration, launch files, and the build cache."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tools import bookcache, notebook_times, notebooks, stage, test_summary, vendor_js

ROOT = Path(__file__).resolve().parent.parent
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
NOTEBOOKS = notebooks.toc_notebooks()


def markdown(path: Path) -> str:
    nb = json.loads(path.read_text())
    return "\n".join(notebooks.source(c) for c in nb["cells"] if c["cell_type"] == "markdown")


def test_every_toc_entry_exists_and_every_chapter_notebook_is_in_the_toc():
    listed = notebooks.toc_files()
    for name in listed:
        assert any((ROOT / f"{name}{ext}").exists() for ext in (".ipynb", ".md")), name
    on_disk = {p.relative_to(ROOT).with_suffix("").as_posix() for p in (ROOT / "chapters").glob("*.ipynb")}
    assert on_disk <= set(listed), f"notebooks missing from _toc.yml: {sorted(on_disk - set(listed))}"
    assert NOTEBOOKS, "the book lists no notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_clean_with_the_shared_setup_cells(path):
    assert notebooks.problems(path) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_chapter_states_objectives_prerequisites_and_ends_with_a_summary(path):
    text = markdown(path)
    assert "Learning objectives" in text
    assert "Prerequisites" in text
    headings = re.findall(r"^## (.+)$", text, flags=re.M)
    assert headings and headings[-1].strip() == "Summary", f"last section is {headings[-1:]}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_chapter_title_has_no_math_because_the_navigation_shows_it_on_every_page(path):
    # The sidebar repeats every title on every page, including pages that load no MathJax.
    titles = re.findall(r"^# (.+)$", markdown(path), flags=re.M)
    assert titles, "no title"
    assert "$" not in titles[0] and "\\(" not in titles[0], titles[0]


def test_setup_cell_installs_only_the_course_package_from_the_configured_repository():
    cell = notebooks.bootstrap_source()
    url, branch = CONFIG["repository"]["url"], CONFIG["repository"]["branch"]
    assert f'REPOSITORY = "{url}"' in cell and f'git+{{REPOSITORY}}@{branch}"' in cell
    assert "--no-deps" in cell and "google.colab" in cell
    install = re.search(r"\[sys.executable, .*?\]", cell, flags=re.S).group(0)
    assert "torch" not in install and "numpy" not in install


def test_every_cited_key_is_in_the_bibliography():
    bib = (ROOT / "references.bib").read_text()
    keys = set(re.findall(r"@\w+\{([^,]+),", bib))
    pages = [ROOT / f"{name}.md" for name in notebooks.toc_files() if (ROOT / f"{name}.md").exists()]
    texts = [markdown(p) for p in NOTEBOOKS] + [p.read_text() for p in pages]
    cited = {k.strip() for t in texts for group in re.findall(r"\{cite[pt]?\}`([^`]+)`", t)
             for k in group.split(",")}
    assert cited, "no citation found: the chapters cite their sources"
    assert cited <= keys, f"cited but not in references.bib: {sorted(cited - keys)}"


def test_book_configuration_fails_on_errors_and_launches_from_main():
    execute = CONFIG["execute"]
    assert execute["raise_on_error"] is True and execute.get("allow_errors") is False
    assert isinstance(execute["timeout"], int) and execute["timeout"] >= 90
    assert execute["execute_notebooks"] in {"cache", "force"}
    assert CONFIG["repository"]["branch"] == "main"
    assert CONFIG["repository"]["url"].startswith("https://")
    assert CONFIG["launch_buttons"]["binderhub_url"] and CONFIG["launch_buttons"]["colab_url"]
    extensions = CONFIG["sphinx"]["extra_extensions"]
    assert "sphinx_proof" in extensions and "sphinx_exercise" in extensions
    assert (ROOT / CONFIG["bibtex_bibfiles"][0]).is_file()
    assert CONFIG["only_build_toc_files"] is True
    for excluded in (".venv", "_build", "*.egg-info"):
        assert excluded in CONFIG["exclude_patterns"]


def test_repository_url_lives_in_one_place():
    url = CONFIG["repository"]["url"]
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["repository-code"] == url
    readme_urls = re.findall(r"https://github\.com/[\w.-]+/[\w.-]+", (ROOT / "README.md").read_text())
    assert readme_urls, "README.md links the repository (Binder and Colab badges)"
    assert all(u.rstrip(".") == url for u in readme_urls), set(readme_urls)


def test_binder_requirements_install_the_course_and_a_cpu_torch():
    lines = [l.strip() for l in (ROOT / "requirements.txt").read_text().splitlines()
             if l.strip() and not l.startswith("#")]
    # The course package with the one list of what a reader's JupyterLab needs (pyproject's
    # `lab` extra), every version pinned by the tested constraints, torch from the CPU index.
    assert "-e .[lab]" in lines, "Binder must install the course package with its lab extra"
    assert "-c constraints.txt" in lines, "Binder installs the versions the course is tested with"
    assert any(l.startswith("--extra-index-url") and l.endswith("/whl/cpu") for l in lines)
    assert not any(re.search(r"nvidia|\+cu\d|/whl/cu\d", l) for l in lines)
    constraints = (ROOT / "constraints.txt").read_text()
    assert re.search(r"^torch==", constraints, flags=re.M)
    assert not re.search(r"nvidia|\+cu\d", constraints)
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    lab = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["lab"]
    assert any(r.startswith("jupyterlab-myst") for r in lab), "MyST blocks must render in Lab"


def test_package_metadata_uses_ranges_and_pins_torch_only_in_the_constraints_file():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"]:
        assert "==" not in requirement, requirement
    assert any(r.startswith("jupyter-book") and "<2" in r for r in project["optional-dependencies"]["book"])
    constraints = (ROOT / "constraints.txt").read_text()
    assert re.search(r"^torch==", constraints, flags=re.M)


def test_build_outputs_are_ignored_by_git():
    ignored = (ROOT / ".gitignore").read_text().split()
    for entry in (".venv/", "_build/", "*.egg-info/"):
        assert entry in ignored


def test_cache_key_changes_with_the_library_and_the_scale(tmp_path, monkeypatch):
    (tmp_path / "lib").mkdir()
    module = tmp_path / "lib" / "m.py"
    module.write_text("x = 1\n")
    monkeypatch.delenv("BEYONDLAZY_SCALE", raising=False)
    key = bookcache.cache_key(tmp_path)
    assert bookcache.cache_key(tmp_path) == key
    module.write_text("x = 2\n")
    assert bookcache.cache_key(tmp_path) != key
    key = bookcache.cache_key(tmp_path)
    monkeypatch.setenv("BEYONDLAZY_SCALE", "paper")
    assert bookcache.cache_key(tmp_path) != key


def test_refresh_deletes_stale_outputs_only_when_the_key_changes(tmp_path, monkeypatch):
    build = tmp_path / "_build"
    monkeypatch.delenv("BEYONDLAZY_SCALE", raising=False)
    assert bookcache.refresh(build)  # first build: nothing cached yet
    for name in bookcache.STALE:
        (build / name).mkdir()
    assert not bookcache.refresh(build)
    assert all((build / name).exists() for name in bookcache.STALE)
    monkeypatch.setenv("BEYONDLAZY_SCALE", "paper")
    assert bookcache.refresh(build)
    assert not any((build / name).exists() for name in bookcache.STALE)


def test_staged_book_has_execution_off_and_no_environment(tmp_path):
    dest = tmp_path / "book"
    stage.stage(dest)
    config = yaml.safe_load((dest / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "off"
    assert config["repository"] == CONFIG["repository"]
    assert not (dest / ".venv").exists() and not (dest / ".git").exists()
    for path in NOTEBOOKS:
        assert (dest / path.relative_to(ROOT)).read_text() == path.read_text()


def test_test_summary_adds_up_junit_reports_and_fails_on_failures(tmp_path, capsys):
    unit = tmp_path / "unit.xml"
    unit.write_text('<testsuites><testsuite tests="10" failures="1" errors="1" skipped="2"/></testsuites>')
    notebooks_xml = tmp_path / "nb.xml"
    notebooks_xml.write_text('<testsuite tests="3" failures="0" errors="0" skipped="0"/>')
    assert test_summary.main([str(unit), str(notebooks_xml)]) == 1
    assert capsys.readouterr().out.strip() == "Tests: 9 passed, 2 failed, 2 skipped"
    unit.write_text('<testsuites><testsuite tests="4" failures="0" errors="0" skipped="1"/></testsuites>')
    assert test_summary.main([str(unit)]) == 0
    assert capsys.readouterr().out.strip() == "Tests: 3 passed, 0 failed, 1 skipped"


def test_vendored_widget_javascript_is_complete_and_points_at_local_files(tmp_path):
    node_modules = ROOT / "node_modules"
    if not (node_modules / "@jupyter-widgets" / "html-manager").is_dir():
        pytest.skip("run `make setup` (npm ci) first")
    vendor_js.vendor(node_modules, tmp_path)
    site = tmp_path / "vendor"
    assert (site / "require.js").stat().st_size > 10_000
    assert (site / "html-manager" / "embed-amd.js").stat().st_size > 1_000_000
    fonts = sorted(p.suffix for p in (site / "html-manager" / "embed-amd" / "dist").iterdir())
    assert ".woff2" in fonts
    shim = (site / "widgets-offline.js").read_text()
    assert "http" not in shim and '"@jupyter-widgets/controls": bundle' in shim
    # every page with widgets loads exactly these three local files, in this order
    scripts = list(CONFIG["sphinx"]["config"]["nb_ipywidgets_js"])
    assert scripts == ["../vendor/widgets-offline.js", "../vendor/require.js",
                       "../vendor/html-manager/embed-amd.js"]
    assert CONFIG["sphinx"]["config"]["html_extra_path"] == ["_vendor"]


# --- Teaching conventions: exercises, a self-checking coding exercise, a study-time line ---------

# The notebooks held to the teaching conventions below. Widen to every chapter (`NOTEBOOKS`) once
# each chapter has its exercises and its study-time line.
TEACHING_CHECKED = NOTEBOOKS


def code_sources(path: Path) -> list[str]:
    nb = json.loads(path.read_text())
    return [notebooks.source(c) for c in nb["cells"] if c["cell_type"] == "code"]


@pytest.mark.parametrize("path", TEACHING_CHECKED, ids=lambda p: p.name)
def test_chapter_has_exercises_a_self_checking_coding_exercise_and_a_study_time(path):
    text = markdown(path)
    exercises = re.findall(r"^:{3,}\{exercise\}", text, flags=re.M)
    solutions = re.findall(r"^:{3,}\{solution\}", text, flags=re.M)
    assert len(exercises) >= 3, f"{len(exercises)} exercises; the course asks for at least 3"
    assert len(solutions) >= len(exercises), "every exercise has a solution"
    assert text.count(":class: dropdown") >= len(exercises), "solutions sit in dropdowns"
    checks = [s for s in code_sources(path) if "exercises.check(" in s]
    assert checks, "at least one coding exercise checks itself with bl.exercises.check"
    assert any("raise NotImplementedError" in s for s in code_sources(path)), \
        "a coding exercise starts from a stub the reader fills in"
    nb = json.loads(path.read_text())
    header = notebooks.source(nb["cells"][0])
    assert re.search(r"study time", header, flags=re.I), "the header states an estimated study time"
    stated = notebook_times.stated_seconds(path)
    assert stated is not None, "the header states the run time as 'the notebook runs in about N s " \
        "on 2 CPU cores'"
    assert stated <= notebook_times.BUDGET_S, f"a notebook runs in at most {notebook_times.BUDGET_S} s"
    assert "Learning objectives" in text and "Prerequisites" in text
    headings = re.findall(r"^## (.+)$", text, flags=re.M)
    assert headings[-1].strip() == "Summary"


def _solution_code(text: str, label: str) -> str:
    block = re.search(r"^:{3,}\{solution\} " + re.escape(label) + r"\n(.*?)^:{3,}$", text,
                      flags=re.M | re.S)
    assert block, f"no solution for {label}"
    code = re.search(r"```python\n(.*?)```", block.group(1), flags=re.S)
    assert code, f"the solution of {label} shows no code"
    return code.group(1)


@pytest.mark.parametrize("label", ["ex-6-first-gradient", "ex-6-top-eigenvector"])
def test_conclusion_coding_solutions_pass_their_own_checks(label, capsys):
    # The stub prints "Not attempted yet"; the solution in the dropdown must pass the same check.
    path = ROOT / "chapters" / "06_conclusion.ipynb"
    nb = json.loads(path.read_text())
    cells = [notebooks.source(c) for c in nb["cells"]]
    start = next(i for i, c in enumerate(cells)
                 if re.search(r"^:{3,}\{exercise\}\n:label: " + re.escape(label) + "$", c, flags=re.M))
    exercise_cell = cells[start + 1]
    namespace: dict = {}
    imports = next(c for c in code_sources(path) if "notebook_setup()" in c)
    exec(imports, namespace)  # noqa: S102 - the book's own code
    exec(exercise_cell, namespace)  # noqa: S102
    assert not namespace["outcome"].passed
    assert "Not attempted yet" in capsys.readouterr().out
    exec(_solution_code("\n".join(cells[start + 2:start + 3]), label), namespace)  # noqa: S102
    check_call = exercise_cell[exercise_cell.index("outcome = "):]
    exec(check_call, namespace)  # noqa: S102
    assert namespace["outcome"].passed, capsys.readouterr().out


# --- The notation page and the instructors' page ---------------------------------------------------


def test_notation_glossary_defines_every_term_the_chapters_use_before_defining_it():
    text = (ROOT / "notation.md").read_text()
    glossary = text[text.index("(notation-glossary)="):]
    for term in ("RIP", "CSQ", r"$\Pi^\star$", r"$\tilde O$", "excess $L^1$ loss"):
        assert re.search(r"^" + re.escape(term), glossary, flags=re.M), f"{term} is not defined"
    # Chapter 4's output weights are a (the paper's notation), Chapter 1's are v
    assert re.search(r"^\| output weights \| \$v\$ \|.*\| \$a\$", text, flags=re.M)
    for symbol in ("W_N\\cdots W_1", "P_W", "D_j", "mode strength"):
        assert symbol in text, f"Chapter 5's {symbol} is missing"


def test_talk_map_cites_only_registered_claims_and_existing_pages():
    from beyondlazy.claims import registry

    text = (ROOT / "talk-map.md").read_text()
    known = {c.id for c in registry.all_claims()}
    cited = set(re.findall(r"\bC\d\.\d+\b", text))
    assert cited
    # Chapter 5's claims are named as a range (C5.1–C5.8); every other id must be registered
    missing = {c for c in cited if c not in known and not c.startswith("C5.")}
    assert not missing, f"claims not in the registry: {sorted(missing)}"
    for target in re.findall(r"\{doc\}`(?:[^<`]*<)?([^>`]+)>?`", text):
        assert any((ROOT / f"{target}{ext}").exists() for ext in (".md", ".ipynb")), target
    assert "talk-map" in notebooks.toc_files()


def test_the_run_time_report_reads_nbmakes_junit_and_flags_what_to_update(tmp_path, capsys):
    report = tmp_path / "notebooks.xml"
    first, second = NOTEBOOKS[0].stem, NOTEBOOKS[1].stem
    report.write_text(
        '<testsuites><testsuite tests="2">'
        f'<testcase classname="chapters.{first}" name="chapters/{first}.ipynb" time="12.5"/>'
        f'<testcase classname="chapters.{second}" name="chapters/{second}.ipynb" time="75.0"/>'
        "</testsuite></testsuites>")
    assert notebook_times.measured_seconds(report) == {first: 12.5, second: 75.0}
    assert notebook_times.verdict(75.0, 40) == "over the 60 s budget"
    assert notebook_times.verdict(30.0, 40) == "ok"
    assert notebook_times.verdict(12.5, 40) == "the header says about 40 s: update it"
    assert notebook_times.verdict(12.5, None) == "the header states no run time"
    assert notebook_times.main([str(report)]) == 0
    out = capsys.readouterr().out
    assert f"{second}" in out and "over the 60 s budget" in out
    assert out.count("not in the report") == len(NOTEBOOKS) - 2
