"""Identity stitching: which identifiers belong to the same person, and why."""
