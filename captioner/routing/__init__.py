"""Which caption goes to which track and language: tracks, glossary, sentences, translation
engines.
"""
