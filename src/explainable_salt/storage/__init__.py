"""How outputs are stored: written whole, never over raw data, one run at a time, with the lineage
that says which artifacts belong together."""
