"""SIGKILL `kedro run --env quick` at random moments, rerun it each time, and check that the rerun
ends with complete, consistent outputs: prints one line per kill and N/N at the end.

Runs in a scratch project with the built-in synthetic data (nothing in data/ is touched):

    .venv/bin/python benchmarks/fault_injection.py [--kills 20] [--seed 0] [--keep DIR]

A kill lands uniformly at random within the length of an uninterrupted run, measured first. After
each kill every output must read back whole (an earlier version or a complete new one); after each
rerun, every output is whole, the submission covers every test id, the explanations add up, and
no lock, staging folder or finished checkpoint is left (tests/kedro_project.py:
``assert_run_complete``).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _options import count  # benchmarks/ is on the path when run as a script

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the scratch project and output checks the tests use

KEDRO = [str(Path(sys.executable).parent / "kedro"), "run", "--env", "quick"]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "KEDRO_DISABLE_TELEMETRY": "true"}


def run(project: Path, kill_after: float | None) -> tuple[int, float]:
    """``kedro run --env quick`` in ``project``, SIGKILLed after ``kill_after`` seconds if it is
    still running then. Returns the exit code and the seconds it ran."""
    start = time.perf_counter()
    with open(project / "last_run.log", "w") as log:
        process = subprocess.Popen(KEDRO, cwd=project, env=ENV, stdout=log, stderr=subprocess.STDOUT)
        try:
            code = process.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            code = process.wait()
    return code, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=count(1), default=20, help="number of kill + rerun rounds")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    parser.add_argument("--keep", type=Path, help="make the scratch project here and keep it")
    options = parser.parse_args()

    from kedro_project import assert_every_output_whole, assert_run_complete, scratch_project

    root = options.keep or Path(tempfile.mkdtemp(prefix="fault_injection_"))
    project = scratch_project(root)
    subprocess.run([*KEDRO, "--pipeline", "synthetic_data"], cwd=project, env=ENV, check=True, capture_output=True)
    code, full = run(project, None)
    if code != 0:
        sys.exit(f"the uninterrupted run failed (exit {code}): see {project / 'last_run.log'}")
    assert_run_complete(project)
    print(f"uninterrupted run: {full:.0f} s; project {project}", flush=True)

    moments = np.random.default_rng(options.seed).uniform(1.0, full, options.kills)
    passed = 0
    for round_, moment in enumerate(moments, 1):
        killed, _ = run(project, float(moment))
        verdict = "killed" if killed == -signal.SIGKILL else f"finished first (exit {killed})"
        try:
            assert_every_output_whole(project)
            code, seconds = run(project, None)
            assert code == 0, f"the rerun exited {code}: see {project / 'last_run.log'}"
            assert_run_complete(project)
        except AssertionError as error:
            print(f"{round_:2d}: kill at {moment:5.1f} s ({verdict}): FAILED: {error}", flush=True)
            continue
        passed += 1
        print(f"{round_:2d}: kill at {moment:5.1f} s ({verdict}); rerun {seconds:.0f} s: complete and consistent",
              flush=True)
    print(f"{passed}/{options.kills} reruns ended with complete, consistent outputs")
    sys.exit(0 if passed == options.kills else 1)


if __name__ == "__main__":
    main()
