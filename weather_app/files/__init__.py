"""The product's files: atomic replacement, one-writer locks, snapshot files."""
