"""The audience side: the caption server, the viewers' fan-out, the wire format, the operator
console, metrics.
"""
