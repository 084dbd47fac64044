"""Where frames go: composed pixels, mp4, timeline and plot exports, window, web page,
virtual camera, VMC/OSC."""
