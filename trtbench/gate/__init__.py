"""``trtbench gate``: noise-aware regression decisions between a baseline and a candidate run."""
