"""The competition's data and metric: RLE codec, raw-data checks, splits, the metric, the synthetic dataset."""
