"""Where audio comes from: the source protocol, files, microphones, network streams, levels."""
