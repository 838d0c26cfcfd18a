"""Compare two saved ImageStacks (e.g. channel contributions from two runs).

    .venv/bin/python benchmarks/compare_stacks.py saved/channel_contributions data/07_model_output/channel_contributions

Prints whether ids and channel names agree, the largest absolute difference and whether the
arrays are bit-identical. Used to check that a run on a Dask cluster reproduces an in-process run.
"""

from __future__ import annotations

import argparse

import numpy as np

from explainable_salt.datasets import ImageStackDataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("first")
    parser.add_argument("second")
    args = parser.parse_args()
    a, b = ImageStackDataset(args.first).load(), ImageStackDataset(args.second).load()
    print(f"same ids: {list(a.ids) == list(b.ids)}; same channels: {a.channels == b.channels}; shape {a.data.shape}")
    print(f"largest |difference|: {float(np.abs(np.asarray(a.data, np.float64) - b.data).max()):.3g}; "
          f"bit-identical: {np.array_equal(a.data, b.data)}")


if __name__ == "__main__":
    main()
