"""Speech to text: voice activity, Whisper, guards, the streaming commit policy, language
choice, the live worker, offline transcription.
"""
