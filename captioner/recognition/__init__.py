"""Speech to text: voice activity, Whisper, guards, the streaming commit policy, the live
worker, offline transcription.
"""
