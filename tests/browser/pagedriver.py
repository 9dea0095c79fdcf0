"""JupyterLab driven through the page, as a person would (Playwright): open a notebook, run cells with the
keyboard, save, and move an explorer's slider or dropdown while timing the new image.

Everything the tests look at is read from the page's DOM: ``.jp-Notebook .jp-Cell`` cells, the ipywidgets views
(``.widget-image``: the explorer's image, its parent the explorer's box with ``.widget-slider`` and ``select``)."""

from __future__ import annotations

import re
import time

CELLS = ".jp-Notebook .jp-Cell"
# the kernel's status, in the notebook's toolbar and in the status bar
INDICATORS = ".jp-Notebook-ExecutionIndicator"
IMAGES = ".jp-Notebook .widget-image"

# In the page: arm a probe on image ``i`` that starts its clock at the next interaction (mouseup: a slider's
# release; change: a dropdown's pick), and resolves to the milliseconds until the image's src has changed and
# the new picture is decoded (the moment a person sees it), or to null after ``timeout`` ms.
ARM = """([selector, i, timeout]) => {
  const img = document.querySelectorAll(selector)[i];
  const before = img.src;
  const state = {t0: null};
  const mark = () => { if (state.t0 === null) state.t0 = performance.now(); };
  document.addEventListener('mouseup', mark, {capture: true, once: true});
  document.addEventListener('change', mark, {capture: true, once: true});
  window.__imageProbe = new Promise(resolve => {
    const stop = setTimeout(() => { observer.disconnect(); resolve(null); }, timeout);
    const observer = new MutationObserver(async () => {
      if (img.src === before) return;
      observer.disconnect();
      clearTimeout(stop);
      await img.decode().catch(() => {});
      resolve(performance.now() - state.t0);
    });
    observer.observe(img, {attributes: true, attributeFilter: ['src']});
  });
}"""

# In the page: image ``i`` as the person sees it and as it is: natural and rendered sizes, a fingerprint of
# its pixels, and the pixels of its outer ring that differ from the top-left corner (the figure's background).
LOOK = """([selector, i, ring]) => {
  const img = document.querySelectorAll(selector)[i];
  const w = img.naturalWidth, h = img.naturalHeight;
  const canvas = document.createElement('canvas');
  canvas.width = w; canvas.height = h;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const px = ctx.getImageData(0, 0, w, h).data;
  let hash = 2166136261;
  for (let k = 0; k < px.length; k += 7) { hash = Math.imul(hash ^ px[k], 16777619) >>> 0; }
  const bg = [px[0], px[1], px[2]];
  let edge = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (x >= ring && x < w - ring && y >= ring && y < h - ring) { x = w - ring - 1; continue; }
      const k = 4 * (y * w + x);
      if (Math.abs(px[k] - bg[0]) + Math.abs(px[k + 1] - bg[1]) + Math.abs(px[k + 2] - bg[2]) > 24) edge++;
    }
  }
  const r = img.getBoundingClientRect();
  return {natural: [w, h], shown: [r.width, r.height], hash, edge, background: bg};
}"""

# In the page: the visible text of rendered markdown and of widget HTML (formulas included), leaving out code
# (where a `$` or a backslash is literal) and MathJax's own output. Raw TeX left in it is a formula MathJax missed.
PROSE = """() => {
  const parts = [];
  const walk = node => {
    if (node.nodeType === Node.TEXT_NODE) { parts.push(node.textContent); return; }
    if (node.nodeType !== Node.ELEMENT_NODE) return;
    const tag = node.tagName.toLowerCase();
    if (['code', 'pre', 'script', 'style', 'mjx-container', 'mjx-assistive-mml'].includes(tag)) return;
    if (node.classList.contains('jp-InputArea-editor') || node.classList.contains('MathJax')) return;
    for (const child of node.childNodes) walk(child);
  };
  document.querySelectorAll('.jp-RenderedMarkdown, .widget-htmlmath, .widget-html-content').forEach(n => {
    walk(n); parts.push('\\n'); });
  return parts.join('');
}"""
RAW_TEX = re.compile(r"\$[^$\n]{0,80}\$?|\\[A-Za-z]{2,}")  # a dollar, or a TeX command such as \frac


def find_raw_tex(text: str) -> list[str]:
    """Snippets of ``text`` that look like TeX a person should never see: a `$`, or a TeX command."""
    return [m.group(0) for m in RAW_TEX.finditer(text)]


def raw_tex(page) -> list[str]:
    """Snippets of raw TeX visible in the prose of the page."""
    return find_raw_tex(page.evaluate(PROSE))


def wait_idle(page, timeout_ms: float = 180_000) -> None:
    page.wait_for_function("sel => { const s = [...document.querySelectorAll(sel)]; "
                           "return s.length > 0 && s.every(e => e.dataset.status === 'idle'); }",
                           arg=INDICATORS, timeout=timeout_ms, polling=250)


def open_notebook(page, lab, name: str, cell_count: int) -> None:
    """Open ``name`` in JupyterLab (alone: ``reset`` drops the notebooks a previous page left in the workspace) and
    wait until all its cells are in the page and its kernel is idle."""
    page.goto(lab.url(f"lab/tree/{name}", "reset"))
    _wait_open(page, cell_count)


def open_from_file_browser(page, name: str, cell_count: int) -> None:
    """In a JupyterLab page already loaded, open ``name`` alone (every other tab closed) by a double click in the file
    browser, as a person moves from one notebook to the next: no reload of JupyterLab (``open_notebook`` reloads it,
    7-13 s a time on 2 cores). Waits as ``open_notebook`` does."""
    close_all_tabs(page)
    item = page.locator(".jp-DirListing-item", has=page.locator(".jp-DirListing-itemText", has_text=re.compile(
        f"^{re.escape(name)}$")))
    item.scroll_into_view_if_needed()
    item.dblclick()
    _wait_open(page, cell_count)


def close_all_tabs(page) -> None:
    """File > Close All Tabs, when a notebook is open; a notebook left with unsaved changes (a test that failed
    half-way) is closed without saving."""
    if not page.locator(".jp-Notebook").count():
        return
    menu(page, "File", "Close All Tabs")
    discard = page.locator(".jp-Dialog button", has_text=re.compile(r"^(Discard|Don't Save)$"))
    deadline = time.monotonic() + 60
    while page.locator(".jp-Notebook").count() and time.monotonic() < deadline:
        if discard.count():
            discard.first.click()
        time.sleep(0.1)
    assert not page.locator(".jp-Notebook").count(), "File > Close All Tabs left a notebook open"


def _wait_open(page, cell_count: int) -> None:
    """Wait until the notebook's ``cell_count`` cells are in the page and its kernel is idle; select its first cell
    in command mode."""
    page.wait_for_function(f"document.querySelectorAll('{CELLS}').length === {cell_count}", timeout=120_000)
    wait_idle(page)
    # select the first cell in command mode: a click in its prompt column (left of any link in a markdown cell,
    # right of the collapser bar, which would fold the cell), then Escape
    page.locator(CELLS).nth(0).click(position={"x": 30, "y": 8})
    page.keyboard.press("Escape")
    assert active_cell(page) == 0


def active_cell(page) -> int:
    return page.evaluate(f"[...document.querySelectorAll('{CELLS}')].findIndex(c => c.classList.contains("
                         "'jp-mod-active'))")


def run_cells(page, indices, timeout_ms: float = 180_000) -> None:
    """Run the cells ``indices`` (ascending) one by one as a person would: J moves down, Ctrl+Enter runs; each
    is waited for until its prompt shows an execution count."""
    for i in indices:
        for _ in range(400):  # one key at a time, reading where the selection went (a busy page may drop one)
            now = active_cell(page)
            if now == i:
                break
            page.keyboard.press("j" if now < i else "k")
        assert active_cell(page) == i, f"could not select cell {i} (at {active_cell(page)})"
        page.keyboard.press("Control+Enter")
        page.wait_for_function(
            f"/\\[\\d+\\]/.test(document.querySelectorAll('{CELLS}')[{i}].querySelector('.jp-InputPrompt')"
            ".textContent)", timeout=timeout_ms)
    wait_idle(page)


def menu(page, top: str, item: str) -> None:
    """Click ``top`` in JupyterLab's menu bar, then ``item`` in the menu it opens (labels matched whole)."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{re.escape(top)}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$")).click()


def run_all(page, timeout_ms: float = 600_000) -> None:
    """Run > Run All Cells from the menu bar, then wait until no cell is queued and the kernel is idle."""
    menu(page, "Run", "Run All Cells")
    page.wait_for_function(f"[...document.querySelectorAll('{CELLS} .jp-InputPrompt')].every("
                           "p => !p.textContent.includes('*'))", timeout=timeout_ms, polling=500)
    wait_idle(page)


def save(page) -> None:
    """Ctrl+S, then wait until the notebook's tab no longer shows unsaved changes."""
    page.keyboard.press("Control+s")
    page.wait_for_function("!document.querySelector('.jp-mod-current.jp-mod-dirty')", timeout=60_000)


def look(page, i: int, selector: str = IMAGES, ring: int = 2) -> dict:
    return page.evaluate(LOOK, [selector, i, ring])


def timed(page, i: int, act, selector: str = IMAGES, timeout_ms: float = 20_000) -> float | None:
    """Milliseconds from the interaction ``act()`` to image ``i`` showing its new picture (None: it never came)."""
    page.evaluate(ARM, [selector, i, timeout_ms])
    act()
    return page.evaluate("window.__imageProbe")


def drag_slider(page, handle) -> None:
    """Drag a slider's handle a third of its track towards the farther end, with the mouse, and release."""
    handle.scroll_into_view_if_needed()
    track = handle.locator("xpath=ancestor::div[contains(@class, 'noUi-base')]").bounding_box()
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    step = track["width"] / 3 * (1 if x < track["x"] + track["width"] / 2 else -1)
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + step / 2, y, steps=4)
    page.mouse.move(x + step, y, steps=4)
    page.mouse.up()
