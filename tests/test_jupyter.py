"""`kedro jupyter notebook` and `kedro jupyter lab`, as the README gives them, start a server with the
project's kernel (the catalog and context loaded)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import REPO

KEDRO = str(Path(sys.executable).parent / "kedro")
TOKEN = "explainable-salt-test"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read()


@pytest.mark.parametrize(("command", "page"), [("notebook", "tree"), ("lab", "lab")])
def test_kedro_jupyter_starts_a_server_with_the_projects_kernel(command, page, tmp_path):
    port = _free_port()
    server = subprocess.Popen(
        [KEDRO, "jupyter", command, "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.token={TOKEN}", "--allow-root"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "server.log", "w"),  # noqa: SIM115
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "JUPYTER_RUNTIME_DIR": str(tmp_path)},
        start_new_session=True,
    )
    try:
        deadline, status = time.monotonic() + 120, None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                status, _ = _get(f"http://127.0.0.1:{port}/{page}?token={TOKEN}")
                break
            except OSError:
                time.sleep(1)
        assert status == 200, (tmp_path / "server.log").read_text()[-3000:]
        _, body = _get(f"http://127.0.0.1:{port}/api/kernelspecs?token={TOKEN}")
        kernels = json.loads(body)
        assert kernels["default"] == "kedro_explainable_salt"
        assert kernels["default"] in kernels["kernelspecs"]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
