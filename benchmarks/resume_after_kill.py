"""Kill `kedro run --pipeline modelling` during the Lovász stage with SIGKILL, rerun the same command,
and print the lines that show the resume and the final score.

Run it from the project root on the data in data/ (e.g. the competition data, with the layers
before modelling already built by `kedro run --to-nodes build_model_inputs_test`):

    .venv/bin/python benchmarks/resume_after_kill.py [--epochs-before-kill 1] [-- KEDRO_RUN_ARGS...]

Shorter stages for a quicker check go in conf/local/parameters_modelling.yml (the default run
environment), e.g. `max_minutes: 6` and `10` for the two stages. Both runs use the same environment,
hence the same checkpoint folder, data/06_models/checkpoints/<env>/ (`local` unless `-- --env NAME`).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from _options import count  # benchmarks/ is on the path when run as a script

KEDRO = [str(Path(sys.executable).parent / "kedro"), "run", "--pipeline", "modelling"]
SHOWN = re.compile(r"Resuming|resuming after|Stage time limit|Best validation|Decision rule|Internal test|"
                   r"removed its checkpoint|Pipeline execution completed|Training unet")


def run(args: list[str], kill_at_lovasz_epoch: int | None) -> tuple[int, list[str]]:
    """Run kedro; with ``kill_at_lovasz_epoch``, SIGKILL it when that epoch of the Lovász stage
    begins (so that the epochs before it are checkpointed)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "KEDRO_DISABLE_TELEMETRY": "true"}
    process = subprocess.Popen(KEDRO + args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines, lovasz_epochs = [], None
    for line in process.stdout:
        lines.append(line)
        if "(lovasz" in line and "Training" in line:
            lovasz_epochs = 0
        elif lovasz_epochs is not None and line.startswith("Epoch "):
            lovasz_epochs += 1
            if kill_at_lovasz_epoch is not None and lovasz_epochs == kill_at_lovasz_epoch:
                process.send_signal(signal.SIGKILL)
                break
    process.stdout.close()
    return process.wait(), lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs-before-kill", type=count(0), default=1, help="Lovász epochs finished before the kill")
    parser.add_argument("kedro_args", nargs="*", help="more arguments of kedro run (after --)")
    options = parser.parse_args()
    code, lines = run(options.kedro_args, options.epochs_before_kill + 1)
    print(f"first run: exit {code} ({'SIGKILL' if code == -signal.SIGKILL else 'not killed'})")
    print("".join(line for line in lines if SHOWN.search(line)))
    code, lines = run(options.kedro_args, None)
    print(f"rerun of the same command: exit {code}")
    print("".join(line for line in lines if SHOWN.search(line)))
    sys.exit(code)


if __name__ == "__main__":
    main()
