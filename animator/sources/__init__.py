"""Where lips and head angles come from live: audio input (microphone, file in real time)
and camera."""
