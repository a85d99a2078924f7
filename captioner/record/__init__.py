"""What a session leaves behind: the journal, the session folder, the audio recorder, exports."""
