"""The audience side: the caption server and the views it serves over HTTP, the viewers' fan-out,
the wire format, the operator console, metrics.
"""
