"""Opening an ONNX model with onnxruntime the one way this project runs models: CPU only, a
fixed number of threads, no console warnings, and a one-line reason when the file is not a
loadable model."""

from __future__ import annotations

from pathlib import Path

from animator.core.errors import one_line
from keypoints.compute_threads import ORT_INTER_OP_THREADS, ORT_INTRA_OP_THREADS


class NotAModel(ValueError):
    """The file is missing or onnxruntime cannot load it; the message is the one-line reason
    (without the path: callers raise their own error naming it)."""


def open_session(path: str | Path, threads: int = ORT_INTRA_OP_THREADS):
    """An ``onnxruntime.InferenceSession`` for ``path`` on the CPU with ``threads`` intra-op
    threads (1 keeps the per-frame path on one core; keypoints.compute_threads). Raises
    NotAModel."""
    path = Path(path)
    if not path.is_file():
        raise NotAModel("model file not found")
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = int(threads)
    options.inter_op_num_threads = ORT_INTER_OP_THREADS
    options.log_severity_level = 3  # errors only: no warnings on the console
    try:
        return onnxruntime.InferenceSession(str(path), sess_options=options,
                                            providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises several pybind exception types
        raise NotAModel(f"not a loadable ONNX model ({one_line(err)[:300]})") from None
