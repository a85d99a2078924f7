"""Which caption goes to which track and language: tracks, glossary, sentences, Argos
packages, the choice of translation engine and the translation stage.
"""
