"""What MLflow records of a run: the shapes its datasets take, and what the run ran on."""
