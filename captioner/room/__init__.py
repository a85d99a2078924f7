"""The room side of a live session: the pipeline from a source to the caption bus."""
