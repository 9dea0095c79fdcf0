"""What the browser tests (tests/browser) need besides the browser: find a Chromium or Chrome, start JupyterLab
with the flags of ``make lab`` and stop it, and read the notebooks (which use widgets, which cells an explorer needs).

``python tests/browser/labdriver.py --status`` prints one line saying whether the browser tests will run (``make test``
prints it before and after the run) and exits 0 either way.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import symtable
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BROWSER_ENV = "LOSSLAB_BROWSER"  # path (or name on PATH) of a Chromium or Chrome to use instead of the search
REQUIRE_ENV = "LOSSLAB_REQUIRE_BROWSER"  # "1": a missing browser or playwright fails the tests instead of skipping
SCREENSHOTS_ENV = "LOSSLAB_SCREENSHOTS"  # folder for the screenshots (default: a new temporary folder)
# Debian and Ubuntu's names first (apt-get install chromium), then Google's.
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def find_browser() -> str | None:
    """Path of the browser to drive: ``$LOSSLAB_BROWSER`` when set, else the first of :data:`CANDIDATES` on PATH."""
    wanted = os.environ.get(BROWSER_ENV)
    if wanted:
        return shutil.which(wanted)
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def missing() -> str | None:
    """Why the browser tests cannot run here (None when they can)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    if find_browser() is None:
        if os.environ.get(BROWSER_ENV):
            return f"{BROWSER_ENV}={os.environ[BROWSER_ENV]} is not an executable"
        return (f"no Chromium or Chrome found (looked for {', '.join(CANDIDATES)} on PATH; "
                f"apt-get install chromium, or set {BROWSER_ENV}=/path/to/chrome)")
    return None


def required() -> bool:
    return os.environ.get(REQUIRE_ENV, "") not in ("", "0")


def status_line() -> str:
    reason = missing()
    if reason is None:
        return f"browser tests: RUN with {find_browser()} (tests/browser, make test-browser runs them alone)"
    if required():
        return f"browser tests: FAIL, {REQUIRE_ENV} is set and {reason}"
    return f"browser tests: SKIPPED, {reason}"


# ---- JupyterLab, started as `make lab` starts it


def lab_args() -> list[str]:
    """The server flags of ``make lab`` (the Makefile's LAB_SERVER_ARGS, the one place they are written)."""
    out = subprocess.run(["make", "-s", "--no-print-directory", "-C", str(ROOT), "lab-args"], check=True,
                         capture_output=True, text=True).stdout
    return shlex.split(out)


class Lab:
    """A JupyterLab server in its own process group, serving ``root_dir`` on a free port (port 0: the OS picks).

    ``base`` is ``http://127.0.0.1:PORT``, ``token`` the token it printed, ``log`` what it printed so far."""

    def __init__(self, root_dir: Path, state_dir: Path, timeout: float = 120.0):
        jupyter = Path(sys.executable).with_name("jupyter")
        self.command = [str(jupyter), "lab", *lab_args(), f"--ServerApp.root_dir={root_dir}", "--no-browser",
                        "--ServerApp.port=0"]
        env = dict(os.environ)
        env.pop("MPLBACKEND", None)  # make test sets Agg for pytest; the kernels draw inline as in a user's lab
        # The kernels import the checkout under test; settings, workspaces and runtime files stay out of $HOME.
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
        for var, sub in (("JUPYTERLAB_SETTINGS_DIR", "settings"), ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
                         ("JUPYTER_RUNTIME_DIR", "runtime")):
            env[var] = str(state_dir / sub)
        # No "get Jupyter news?" toast over the page.
        news = state_dir / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
        news.parent.mkdir(parents=True, exist_ok=True)
        news.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
        self.log: list[str] = []
        self._pending: list[threading.Thread] = []  # shut_down_kernels still at work
        self.proc = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=env, start_new_session=True)
        url, deadline = None, time.monotonic() + timeout
        while url is None and time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line and self.proc.poll() is not None:
                break
            self.log.append(line)
            url = re.search(r"(http://[^/\s]+)/lab\?token=([0-9a-f]+)", line)
        if url is None:
            self.stop()
            raise RuntimeError("JupyterLab printed no URL with a token:\n" + "".join(self.log[-30:]))
        self.base, self.token = url.groups()
        # keep reading, so that a full pipe never blocks the server
        threading.Thread(target=lambda: [self.log.append(line) for line in self.proc.stdout], daemon=True).start()
        # The URL can be printed a moment before the port accepts connections (seen once in CI under load): wait
        # until it does, so that the first request of a test is not refused.
        host, port = self.base.rsplit("//", 1)[1].rsplit(":", 1)
        while True:
            try:
                socket.create_connection((host, int(port)), timeout=2).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"JupyterLab printed {self.base} but does not accept connections there:\n"
                                       + "".join(self.log[-30:])) from None
                time.sleep(0.2)

    def url(self, path: str, query: str = "") -> str:
        return f"{self.base}/{path.lstrip('/')}?{query + '&' if query else ''}token={self.token}"

    def shut_down_kernels(self) -> None:
        """Shut down every kernel the server runs now (through its REST API, with the token), as File > Shut Down
        All Kernels would: they are listed at once and the shut-down requests go from a background thread (a kernel
        takes 2-3 s to stop), so a kernel started meanwhile is not among them; ``stop`` waits for the thread."""
        kernels = [kernel["id"] for kernel in json.loads(self._request("GET", "/api/kernels")[1])]
        thread = threading.Thread(target=self._delete_kernels, args=(kernels,), daemon=True)
        thread.start()
        self._pending.append(thread)

    def _delete_kernels(self, kernels: list[str]) -> None:
        for kernel in kernels:
            status, _ = self._request("DELETE", f"/api/kernels/{kernel}")
            assert status == 204, f"shutting down kernel {kernel}: HTTP {status}"

    def _request(self, method: str, path: str) -> tuple[int, bytes]:
        host, port = self.base.rsplit("//", 1)[1].rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        try:
            conn.request(method, path, headers={"Authorization": f"token {self.token}"})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def stop(self) -> None:
        """SIGTERM to the server's process group (the server and its kernels), SIGKILL if it lingers."""
        for thread in self._pending:
            thread.join(timeout=60)
        if self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=20)


# ---- notebooks


def read_notebook(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def source(cell: dict) -> str:
    text = cell.get("source", "")
    return text if isinstance(text, str) else "".join(text)


def shows_widget(cell: dict) -> bool:
    """A code cell whose committed outputs hold a widget view, or whose code builds an explorer."""
    if cell["cell_type"] != "code":
        return False
    if any(WIDGET_MIME in out.get("data", {}) for out in cell.get("outputs", [])):
        return True
    return re.search(r"\bwidgets\.\w*Explorer\(", source(cell)) is not None


def widget_notebooks(folder: Path) -> list[Path]:
    """The notebooks of ``folder`` with at least one widget cell (found by reading them, not by a list of names)."""
    return [p for p in sorted(Path(folder).glob("*.ipynb")) if any(map(shows_widget, read_notebook(p)["cells"]))]


def _names(code: str) -> tuple[set[str], set[str]]:
    """``(defined, used)`` global names of a cell: what it assigns, imports or defines at top level, and what it
    or the functions it defines read from the globals. IPython magics and shell lines are left out."""
    lines = [line for line in code.splitlines() if not line.lstrip().startswith(("%", "!"))]
    try:
        table = symtable.symtable("\n".join(lines) + "\n", "cell", "exec")
    except SyntaxError:
        return set(), set()
    defined = {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()}
    used = {s.get_name() for s in table.get_symbols() if s.is_referenced()}
    stack = list(table.get_children())
    while stack:  # names a function reads but does not bind are globals, read when it is called
        child = stack.pop()
        used |= {s.get_name() for s in child.get_symbols() if s.is_referenced() and s.is_global()}
        stack.extend(child.get_children())
    return defined, used


def cells_for_widgets(nb: dict) -> list[int]:
    """Indices of the code cells to run so that every widget cell of ``nb`` works: the first code cell (the
    set-up: imports, theme), the widget cells, and, walking back from each, the last cell that binds a name
    still needed (a backward slice over global names). A cell that only mutates an object in place is not
    seen; the notebooks do not build their explorers on such state (the slice is printed by the test)."""
    cells = nb["cells"]
    code = [i for i, c in enumerate(cells) if c["cell_type"] == "code"]
    names = {i: _names(source(cells[i])) for i in code}
    chosen = {code[0]} if code else set()
    for target in (i for i in code if shows_widget(cells[i])):
        chosen.add(target)
        need = set(names[target][1])
        for j in reversed([i for i in code if i < target]):
            defined, used = names[j]
            if defined & need:
                chosen.add(j)
                need = (need - defined) | used
    return sorted(chosen)


if __name__ == "__main__":
    if sys.argv[1:] == ["--status"]:
        print(status_line())
    elif sys.argv[1:2] == ["--cells"]:
        for path in widget_notebooks(ROOT / "notebooks"):
            nb = read_notebook(path)
            print(path.name, cells_for_widgets(nb), "of", sum(c["cell_type"] == "code" for c in nb["cells"]))
    else:
        sys.exit("usage: labdriver.py --status | --cells")
