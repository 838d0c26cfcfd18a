"""Where and how work runs: in process or on Dask, and what MLflow is given."""
