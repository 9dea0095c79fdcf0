"""JupyterLab and the widgets in a real browser (Playwright driving Chromium or Chrome): what a person sees.

One JupyterLab per test worker, started with ``make lab``'s flags on a free port in a temporary copy of notebooks/
(the committed notebooks are never touched), serves the tests; it is stopped through its process group.

Every notebook with widgets runs top to bottom in the page, its error outputs and console errors are checked, and
its kernel is shut down after it. That is also what nbval checks (``--nbval-lax``), so when these tests run, nbval
leaves those notebooks to them (``conftest.py``): each notebook runs once per ``make test``. The notebooks are
split into two halves, two test classes, which pytest-xdist's ``--dist loadscope`` can give to its two workers.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import statistics
import tempfile
import time
import urllib.parse
import warnings
from pathlib import Path

import labdriver
import pagedriver as pd
import pytest

pytestmark = pytest.mark.browser

ROOT = labdriver.ROOT
NOTEBOOKS = labdriver.widget_notebooks(ROOT / "notebooks")
TOUR = "00_tour.ipynb"
# The bar: a new image within a second of the interaction. LOSSLAB_LATENCY_LIMIT_MS raises it on a machine
# known to be overloaded (say so when you do); the default is what CI asserts.
LATENCY_LIMIT_MS = float(os.environ.get("LOSSLAB_LATENCY_LIMIT_MS", "1000"))
# An interaction whose new image comes later than that is tried again, and the median of the tries decides. The
# other test worker runs a notebook on the same 2 cores meanwhile: one redraw slowed by it is not what a student
# sees, and an explorer that is slow every time still fails. Every try is reported. Five tries, not three: 01's loss
# dropdown, 220 ms in the kernel and 300-450 ms to the new image on a quiet machine (360 ms with one other busy core),
# once took 1500 / 1378 / 607 ms in a make test while the other worker's notebook and both servers shared the cores.
LATENCY_TRIES = 5


def report(message: str) -> None:
    """What the browser tests measured (latencies, screenshot folder), shown in pytest's warnings summary. A plain
    UserWarning: pytest-xdist's controller re-imports a warning's class by module name, and this test module is not
    importable there (a custom class here crashes the worker that sends it)."""
    warnings.warn(f"browser report: {message}", UserWarning, stacklevel=2)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    reason = labdriver.missing()
    if reason is not None:
        if labdriver.required():
            pytest.fail(f"{labdriver.REQUIRE_ENV} is set and {reason}")
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "notebooks", tmp / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    start = time.perf_counter()
    server = labdriver.Lab(tmp / "notebooks", tmp / "state")
    server.root = tmp / "notebooks"
    server.started_s = time.perf_counter() - start
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser(lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=labdriver.find_browser())
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def screenshots():
    folder = os.environ.get(labdriver.SCREENSHOTS_ENV)
    path = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="losslab-screenshots-"))
    path.mkdir(parents=True, exist_ok=True)
    report(f"browser tests: screenshots in {path}")
    return path


def new_page(browser):
    """A fresh page (1400x1000 CSS pixels, device pixel ratio 1) whose console errors are collected in ``errors``."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.errors = []
    page.on("console", lambda m: page.errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: page.errors.append(f"page error: {e}"))
    return context, page


@pytest.fixture
def page(browser):
    context, page = new_page(browser)
    yield page
    context.close()


@pytest.fixture(scope="class")
def lab_page(lab, browser):
    """One JupyterLab page for a class of tests, which open one notebook after another in it (file browser)."""
    context, page = new_page(browser)
    page.goto(lab.url("lab", "reset"))
    page.wait_for_selector(".jp-DirListing-item", timeout=120_000)
    yield page
    context.close()


# ---- security


def get(url: str) -> tuple[int, str]:
    """Status and Location of a GET, redirects not followed."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""))
    response = conn.getresponse()
    location = response.getheader("Location") or ""
    conn.close()
    return response.status, location


def test_server_needs_the_token_and_listens_on_localhost_only(lab):
    import psutil

    assert lab.base.startswith("http://127.0.0.1:"), lab.base
    assert get(f"{lab.base}/api/contents")[0] == 403  # no token, no API
    assert get(f"{lab.base}/api/contents?token={lab.token}")[0] == 200
    status, location = get(f"{lab.base}/lab")
    assert status == 302 and "/login" in location, (status, location)
    port = int(lab.base.rsplit(":", 1)[1])
    server = psutil.Process(lab.proc.pid)
    listening = [c.laddr for proc in (server, *server.children(recursive=True))
                 for c in proc.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
    assert port in {addr.port for addr in listening}
    assert {addr.ip for addr in listening} == {"127.0.0.1"}, listening  # the server and its kernels


# ---- notebooks with widgets


def saved_errors(path: Path, cells) -> list[str]:
    """Error outputs, and cells left without an execution count, among ``cells`` of the saved notebook."""
    nb = labdriver.read_notebook(path)
    problems = []
    for i in cells:
        cell = nb["cells"][i]
        problems += [f"cell {i}: {o.get('ename')}: {o.get('evalue')}" for o in cell.get("outputs", [])
                     if o["output_type"] == "error"]
        if cell.get("execution_count") is None:
            problems.append(f"cell {i} did not run")
    return problems


def check_explorers(page, name: str, screenshots: Path) -> list[tuple[str, float, list[float]]]:
    """Move a slider and a dropdown of every explorer on the page; assert the image changes within the limit and
    is shown as drawn. Returns, per interaction, what was done, the latency that decides and every try's (ms)."""
    count = page.locator(pd.IMAGES).count()
    assert count > 0, f"{name}: no explorer image on the page"
    measured = []
    for i in range(count):
        img = page.locator(pd.IMAGES).nth(i)
        box = img.locator("xpath=..")
        img.scroll_into_view_if_needed()
        seen = pd.look(page, i)
        # shown at its natural size or sharper: never upscaled, never stretched
        (nw, nh), (w, h) = seen["natural"], seen["shown"]
        assert w > 0 and nw >= w and nh >= h, f"{name} explorer {i}: {nw}x{nh} image shown at {w:.0f}x{h:.0f}"
        assert abs(nw / nh - w / h) < 0.02 * nw / nh, f"{name} explorer {i}: aspect {nw}x{nh} shown {w:.0f}x{h:.0f}"
        # nothing drawn touches the image's edge: axis labels, ticks and legends are inside the image
        assert seen["edge"] == 0, f"{name} explorer {i}: {seen['edge']} drawn pixels on the image's 2-pixel border"
        handle = box.locator(".widget-slider .noUi-handle").first
        interactions = [("slider", lambda handle=handle: pd.drag_slider(page, handle))]
        dropdown = box.locator(":scope > .widget-dropdown select")
        if dropdown.count():
            interactions.append(("dropdown", lambda menu=dropdown: pick_another(menu)))
        for what, act in interactions:
            tries = [interact(page, name, i, what, act)]
            if tries[0][1] > LATENCY_LIMIT_MS:
                tries += [interact(page, name, i, what, act) for _ in range(LATENCY_TRIES - 1)]
            measured.append((f"explorer {i} {tries[0][0]}", statistics.median(ms for _, ms in tries),
                             [ms for _, ms in tries]))
        box.screenshot(path=str(screenshots / f"{Path(name).stem}_explorer{i}.png"))
    slow = [f"{what}: {tries_text(tries)}" for what, ms, tries in measured if ms > LATENCY_LIMIT_MS]
    assert not slow, (f"{name}: new image later than {LATENCY_LIMIT_MS:.0f} ms after the interaction (the median of "
                      f"{LATENCY_TRIES} tries): {slow}")
    return measured


def interact(page, name: str, i: int, what: str, act) -> tuple[str, float]:
    """Do ``act()`` on explorer ``i``; assert the image changed and stays inside its border. Returns what was done
    and the milliseconds to the new image."""
    before = pd.look(page, i)["hash"]
    done = []
    latency = pd.timed(page, i, lambda: done.append(act()))
    label = f"{what} -> {done[0]}" if done[0] else what
    assert latency is not None, f"{name} explorer {i}: no new image after the {label}"
    after = pd.look(page, i)
    assert after["hash"] != before, f"{name} explorer {i}: the image did not change after the {label}"
    assert after["edge"] == 0, f"{name} explorer {i}: drawn pixels on the border after the {label}"
    return label, latency


def tries_text(tries: list[float]) -> str:
    return " / ".join(f"{ms:.0f}" for ms in tries) + " ms"


def pick_another(menu) -> str:
    """Pick an option of the dropdown ``menu`` other than the one shown; returns its text."""
    options = menu.locator("option").all_text_contents()
    current = menu.evaluate("s => s.selectedOptions[0].textContent")
    pick = next(o for o in options if o != current)
    menu.select_option(pick)
    return pick


def notebook_runs_and_its_widgets_work(lab, page, screenshots, name):
    path = lab.root / name
    nb = labdriver.read_notebook(path)
    cells = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"]
    page.errors.clear()  # the page served the class's previous notebooks
    phases = {}  # seconds each step took, for the report
    clock = time.perf_counter()

    def lap(phase):
        nonlocal clock
        phases[phase] = time.perf_counter() - clock
        clock += phases[phase]

    pd.open_from_file_browser(page, name, len(nb["cells"]))
    lap("opened")
    pd.run_all(page)
    lap("ran")
    pd.save(page)
    problems = saved_errors(path, cells)
    assert not problems, f"{name}: {problems}"
    lap("saved")
    measured = check_explorers(page, name, screenshots)
    lap("explorers")
    # formulas typeset by MathJax: no raw TeX left in the visible prose (MathJax typesets asynchronously)
    deadline = time.monotonic() + 30
    while (raw := pd.raw_tex(page)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not raw, f"{name}: raw TeX visible in the page: {raw[:10]}"
    if any("$" in labdriver.source(c) for c in nb["cells"] if c["cell_type"] == "markdown"):
        assert page.locator("mjx-container").count() > 0, f"{name}: the markdown has formulas, MathJax typeset none"
    page.locator(pd.CELLS).nth(0).scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots / f"{Path(name).stem}.png"))
    assert not page.errors, f"{name}: browser console errors: {page.errors}"
    lap("typeset")
    pd.close_all_tabs(page)  # before its kernel goes: the page serves the next notebook
    lab.shut_down_kernels()  # a kernel left running holds its memory until the server stops
    lap("closed")
    report(f"{name}: ran its {len(cells)} code cells; " + ", ".join(f"{k} {v:.1f} s" for k, v in phases.items())
           + "; " + ", ".join(f"{what} {tries_text(tries)}" for what, _, tries in measured))
    (screenshots / f"{Path(name).stem}.json").write_text(json.dumps(
        {"seconds": phases, "cells": cells, "latency_ms": {what: tries for what, _, tries in measured}}, indent=1))


class TestNotebooksFirstHalf:
    @pytest.mark.parametrize("name", [p.name for p in NOTEBOOKS[0::2]])
    def test_notebook_runs_and_its_widgets_work(self, lab, lab_page, screenshots, name):
        notebook_runs_and_its_widgets_work(lab, lab_page, screenshots, name)


class TestNotebooksSecondHalf:
    @pytest.mark.parametrize("name", [p.name for p in NOTEBOOKS[1::2]])
    def test_notebook_runs_and_its_widgets_work(self, lab, lab_page, screenshots, name):
        notebook_runs_and_its_widgets_work(lab, lab_page, screenshots, name)


def test_raw_tex_is_found_and_prose_is_not():
    assert pd.find_raw_tex(r"the loss $\ell = \frac{1}{n}$ falls") == [r"$\ell = \frac{1}{n}$"]
    assert pd.find_raw_tex(r"a slope of \frac12") == [r"\frac"]
    assert pd.find_raw_tex("The loss falls as τ grows (ℓ ≤ log n), see eq. 3.") == []


def test_widget_notebooks_are_found():
    # the scan must find the explorers the tour and the margin notebook are known to have
    names = [p.name for p in NOTEBOOKS]
    assert TOUR in names and len(names) >= 2, names


# ---- the tour as a slideshow (jupyterlab-rise)

# Console errors the RISE view is known to log, none of them a defect of this project: it asks for the optional
# custom style sheets rise.css and <notebook>.css (404 when absent), reveal.js's theme imports web fonts
# (unreachable offline), and its own bundle of the Jupyter web components overflows the stack while it resolves
# their design tokens (a RangeError that jupyterlab-rise 0.43.1 logs whether the widget manager loads or not;
# the slides work).
RISE_EXPECTED = ("rise.css", "00_tour.css", "net::ERR_NAME_NOT_RESOLVED", "net::ERR_INTERNET_DISCONNECTED",
                 "Maximum call stack size exceeded")
# jupyterlab-contrib/rise#119: the RISE view shares no @jupyterlab/console, which the widget manager of
# jupyterlab_widgets >= 3.0.11 imports, so the manager fails to load there and every widget shows as text.
# The lab extra keeps jupyterlab_widgets below 3.0.11 (pyproject.toml); this error means that bound is not in effect.
RISE_119 = "Shared module @jupyterlab/console doesn't exist"


def present_slide(frame) -> dict:
    return frame.evaluate("""() => {
      const all = [...document.querySelectorAll('.reveal .slides section')];
      const here = all.filter(s => s.classList.contains('present'));
      const deepest = here[here.length - 1];
      return {index: all.indexOf(deepest), text: deepest ? deepest.innerText.slice(0, 400) : '',
              fragments: deepest ? deepest.querySelectorAll('.fragment.visible').length : 0,
              explorer: deepest ? deepest.innerText.includes('widgets.LossExplorer') : false,
              images: deepest ? deepest.querySelectorAll('.widget-image').length : 0};
    }""")


def step(slide: dict) -> tuple[int, int]:
    """Where the slideshow is: the slide, and how many of its fragments are shown."""
    return slide["index"], slide["fragments"]


def test_tour_opens_as_a_slideshow_and_advances(lab, page, screenshots):
    name = TOUR
    nb = labdriver.read_notebook(lab.root / name)
    pd.open_notebook(page, lab, name, len(nb["cells"]))
    pd.run_cells(page, labdriver.cells_for_widgets(nb))  # the explorer live in the kernel
    pd.save(page)
    assert not page.errors, f"console errors before the slideshow: {page.errors}"
    page.locator(pd.CELLS).nth(0).click(position={"x": 30, "y": 8})
    page.keyboard.press("Escape")
    page.keyboard.press("Alt+r")  # RISE: render as slideshow (jupyterlab-rise's shortcut)
    page.wait_for_function("[...document.querySelectorAll('iframe')].some(f => f.src.includes('/rise/'))",
                           timeout=60_000)
    handle = next(h for h in page.query_selector_all("iframe") if "/rise/" in (h.get_attribute("src") or ""))
    frame = handle.content_frame()
    frame.wait_for_selector(".reveal.ready", timeout=120_000)
    frame.wait_for_selector(".reveal .slides section.present", timeout=60_000)
    slides = frame.evaluate("document.querySelectorAll('.reveal .slides section').length")
    assert slides >= 5, f"only {slides} slides"
    seen = [present_slide(frame)]
    page.screenshot(path=str(screenshots / "00_tour_slide0.png"))
    frame.locator(".reveal").first.click(position={"x": 5, "y": 5})  # keyboard focus in the slideshow
    for k in range(1, 4):  # a few steps forward: each key press shows a new slide or the next fragment of one
        frame.locator("body").press("Space")  # next: down through subslides, then right
        deadline = time.monotonic() + 10
        now = present_slide(frame)
        while step(now) == step(seen[-1]) and time.monotonic() < deadline:
            time.sleep(0.2)
            now = present_slide(frame)
        seen.append(now)
        page.screenshot(path=str(screenshots / f"00_tour_slide{k}.png"))
    steps = [step(s) for s in seen]
    assert steps == sorted(steps) and len(set(steps)) == len(steps), f"the slideshow did not advance: {steps}"
    assert len({s["index"] for s in seen}) >= 2, f"never left the first slide: {steps}"
    # on to the explorer's slide, then move its slider there
    for _ in range(4 * slides):  # slides and their fragments
        if present_slide(frame)["explorer"]:
            break
        frame.locator("body").press("Space")  # next: down through subslides, then right
        time.sleep(0.3)
    slide = present_slide(frame)
    assert slide["explorer"], f"the explorer's slide was not reached: {slide}"
    page.screenshot(path=str(screenshots / "00_tour_explorer_slide.png"))
    manager = [e for e in page.errors if RISE_119 in e]
    assert not manager, ("the widget manager did not load in the slideshow (jupyterlab-contrib/rise#119): is "
                         f"jupyterlab_widgets < 3.0.11 installed (pyproject.toml's lab extra)? {manager}")
    unexpected = [e for e in page.errors if not any(s in e for s in RISE_EXPECTED)]
    assert not unexpected, f"console errors in the slideshow: {unexpected}"
    # Run the explorer's cell on its slide (select it, Shift+Enter), as a presenter does. The slideshow reloads the
    # notebook from disk, and this test ran only the explorer's cells in the lab (the others keep their committed
    # outputs), so the saved notebook is not signed and its outputs are untrusted there: JupyterLab shows an
    # untrusted widget view as its text fallback, "VBox(children=...)". An output made in this view is trusted.
    # (After Run All in the lab, the save signs the notebook and the saved widget renders as it is; run_all takes
    # the whole tour's time, so the test takes the presenter's other path.)
    cell = frame.locator(".reveal .slides section.present .jp-CodeCell").filter(has_text="widgets.LossExplorer")
    cell.first.locator(".jp-InputPrompt").click()
    page.keyboard.press("Shift+Enter")  # RISE: run the cell, and select the next one if it is on the slide
    images = ".reveal .slides section.present .widget-image"
    try:
        frame.wait_for_selector(images, timeout=60_000)
    except Exception:
        slide = present_slide(frame)
        page.screenshot(path=str(screenshots / "00_tour_explorer_slide_failed.png"))
        raise AssertionError(f"no explorer image on the explorer's slide after running its cell: {slide}; "
                             f"console errors: {page.errors}") from None
    page.screenshot(path=str(screenshots / "00_tour_explorer_slide_live.png"))
    box = frame.locator(images).first.locator("xpath=..")
    before = pd.look(frame, 0, images)["hash"]
    handle = box.locator(".widget-slider .noUi-handle").first
    latency = pd.timed(frame, 0, lambda: pd.drag_slider(page, handle), images)
    assert latency is not None and pd.look(frame, 0, images)["hash"] != before, "the image did not change"
    report(f"tour slideshow: {slides} slides, advanced through {steps}; explorer slide: new image in "
           f"{latency:.0f} ms")
