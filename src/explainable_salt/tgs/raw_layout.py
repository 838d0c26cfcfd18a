"""What ``data/01_raw`` holds: nothing, the competition's files complete, or only some of them.

``make run`` asks before it runs: it generates the built-in synthetic data only into an empty
folder, and stops on a partial one, listing what is missing, instead of writing over real data.

    python -m explainable_salt.tgs.raw_layout data/01_raw    # prints empty or complete; exit 1 if partial
"""

from __future__ import annotations

import sys
from pathlib import Path

# Each entry is satisfied by any one of its alternatives: the zip as distributed, or its
# extracted folder.
REQUIRED = (("train.csv",), ("depths.csv",), ("train.zip", "train/images"), ("train.zip", "train/masks"),
            ("test.zip", "test/images"))


def raw_state(raw: Path) -> tuple[str, list[str]]:
    """``("empty", [])``, ``("complete", [])`` or ``("partial", missing)`` for the folder ``raw``;
    ``missing`` names each absent file (``a or b`` where either would do)."""
    entries = [p for p in raw.iterdir() if p.name != ".gitkeep"] if raw.is_dir() else []
    if not entries:
        return "empty", []
    missing = [" or ".join(names) for names in REQUIRED if not any((raw / n).exists() for n in names)]
    return ("partial", missing) if missing else ("complete", [])


def main(argv: list[str]) -> int:
    raw = Path(argv[0] if argv else "data/01_raw")
    state, missing = raw_state(raw)
    if state == "partial":
        print(f"{raw} holds some of the competition's files but not: {', '.join(missing)}. Add them, or empty "
              f"{raw} to use the built-in synthetic data.", file=sys.stderr)
        return 1
    print(state)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
