"""Explanations: channel Shapley values, their background, global importance and checks."""
