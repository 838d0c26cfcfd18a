"""Where and how computation runs: in process or on Dask, and the CPU/GPU settings that follow from
the hardware."""
