"""Where audio comes from: the source protocol, files, sound devices, network streams,
levels, and the continuity of a live input across losses."""
