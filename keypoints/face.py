"""Faces in images: mediapipe FaceMesh landmarks, head pose, and lip keypoints.

INTERFACE (implemented by the rig-builder work; live mode and the latent tools use it):

class FaceTracker:  context manager over mediapipe FaceMesh (refine_landmarks: 478 points);
    FaceTracker(static_image_mode: bool = False, min_detection_confidence: float = 0.5)
    process(rgb: uint8[H, W, 3]) -> FaceObservation | None
    close()

@dataclass(frozen=True) class FaceObservation:
    landmarks_px: float32[478, 3]  x, y in pixels; z in pixels (mediapipe depth x image width)
    image_size: tuple[int, int]    (width, height)
    head_pose_deg() -> float64[3]  (pitch, yaw, roll) with the contract's signs
    lip_frame(t_s: float) -> keypoints.lips.LipFrame   face-normalised lip keypoints
"""
