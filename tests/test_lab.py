"""`make lab` serves JupyterLab on localhost only, with token authentication on (the README's promise)."""

import os
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("make") is None or not (ROOT / ".venv" / "bin" / "jupyter").exists(),
                                reason="needs make and the project's .venv (make test creates it)")


def status(url: str, wait: float = 30.0) -> int:
    """HTTP status of a GET, retrying while the server does not accept connections yet (a loaded
    machine can print the URL a moment before the socket answers)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as err:
            return err.code
        except urllib.error.URLError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_make_lab_serves_localhost_with_a_token():
    # Port 0: the OS picks a free port, so a lab the user already runs does not interfere.
    proc = subprocess.Popen(["make", "-s", "lab", "LAB_ARGS=--no-browser --ServerApp.port=0"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        url, deadline, seen = None, time.monotonic() + 120, []
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
            seen.append(line)
            match = re.search(r"(http://[^/\s]+)/lab\?token=([0-9a-f]+)", line)
            if match:
                url = match.groups()
        assert url is not None, "JupyterLab printed no URL with a token:\n" + "".join(seen[-20:])
        base, token = url
        assert base.startswith("http://127.0.0.1:"), base
        assert proc.poll() is None, "JupyterLab exited:\n" + "".join(seen[-20:])
        assert status(f"{base}/api/contents") == 403           # no token, no access
        assert status(f"{base}/api/contents?token={token}") == 200
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
