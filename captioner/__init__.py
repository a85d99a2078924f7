"""captioner: live Russian/English captions for conference sessions, on local hardware."""

__version__ = "0.1.0"
