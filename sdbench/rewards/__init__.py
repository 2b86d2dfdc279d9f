"""Per-segment and holistic rewards and metrics; pure functions."""
