"""The pipeline's pure numeric stages, one video frame per ``step``: speaking state, head
motion, mouth features, frame selection. No I/O, no devices, no onnxruntime, mediapipe, cv2
or av."""
