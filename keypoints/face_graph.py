"""mediapipe FaceMesh run in the calling thread, its landmarks read straight off the wire.

The legacy solution (``mp.solutions.face_mesh.FaceMesh``) runs its CalculatorGraph (~60
calculators once expanded) on a thread pool of one thread per core, so each frame hops
between the caller and the pool's threads ~6-7 times. On a busy 2-core VM every such wake-up
runs on cold caches. :class:`CallerThreadFaceMesh` is the same solution with mediapipe's
``ApplicationThreadExecutor`` as the graph's default executor: every calculator runs inside
``wait_until_idle``, in the thread that asked, in the order the scheduler picks. Same graph,
same options, same models, same TFLite/XNNPACK settings (one XNNPACK thread, mediapipe's
default on Linux), so the same landmarks bit for bit (tests/test_face_graph.py; all 1 531 frames
of the real talking faces in ``python -m benchmarks.face_graph``).

Per frame, :meth:`CallerThreadFaceMesh.landmarks` also skips what ``SolutionBase.process``
does on the way: a copy of the image (a read-only array is shared with the packet instead), a
new namedtuple class, and a parse of the landmark messages into Python protos that the caller
then serialises again to read them as numpy (``landmark_rows`` reads the C++ bytes).
"""

from __future__ import annotations

from pathlib import Path

import mediapipe as mp
import numpy as np
from mediapipe.framework import calculator_pb2
from mediapipe.framework.formats.landmark_pb2 import NormalizedLandmarkList
from mediapipe.python import packet_creator
from mediapipe.python._framework_bindings import _packet_getter
from mediapipe.python._framework_bindings.image_frame import ImageFormat
from mediapipe.python.solution_base import SolutionBase
from mediapipe.python.solutions.face_mesh import FaceMesh

#: mediapipe's executor type that runs calculators in the thread waiting on the graph
APPLICATION_THREAD = "ApplicationThreadExecutor"
#: SolutionBase.process stamps frames as a 30 fps clock would (the graph has no smoothing)
FRAME_STEP_US = 33333
OUTPUT = "multi_face_landmarks"

#: One landmark of a serialised NormalizedLandmarkList when only x, y, z are set: the entry's
#: tag (field 1, length-delimited) and length 15, then tag + float32 for x (1), y (2), z (3).
_LANDMARK_BYTES = 17
_LANDMARK_TAGS = {0: 0x0A, 1: 15, 2: 0x0D, 7: 0x15, 12: 0x1D}


def landmark_rows(raw: bytes) -> np.ndarray:
    """float32[N, 3] (x, y, z) of a serialised ``NormalizedLandmarkList``.

    Read from the wire bytes (~20 us for 478 points) instead of 1434 Python attribute reads
    (~190 us); any other layout (e.g. visibility set, a zero left out) is parsed and read
    attribute by attribute."""
    n = len(raw) // _LANDMARK_BYTES
    if n and n * _LANDMARK_BYTES == len(raw):
        rows = np.frombuffer(raw, np.uint8).reshape(n, _LANDMARK_BYTES)
        if all((rows[:, col] == tag).all() for col, tag in _LANDMARK_TAGS.items()):
            return np.ndarray((n, 3), "<f4", raw, 3, (_LANDMARK_BYTES, 5)).astype(np.float32)
    message = NormalizedLandmarkList.FromString(raw)
    return np.array([(p.x, p.y, p.z) for p in message.landmark], np.float32).reshape(-1, 3)


def caller_thread_config(binary_graph_path: str) -> calculator_pb2.CalculatorGraphConfig:
    """The graph of a mediapipe solution (``binary_graph_path`` relative to the folder that
    holds the ``mediapipe`` package, as solutions name it) with the calling thread as its
    default executor."""
    root = Path(mp.__file__).resolve().parent.parent
    config = calculator_pb2.CalculatorGraphConfig.FromString(
        (root / binary_graph_path).read_bytes())
    if any(not e.name for e in config.executor):
        raise ValueError(f"{binary_graph_path} already sets its default executor")
    config.executor.add(name="", type=APPLICATION_THREAD)
    return config


class _InCallerThread(SolutionBase):
    """Sits between a solution and SolutionBase in the MRO: the solution's own graph path and
    options (side inputs, calculator params, outputs) arrive here unchanged, only the graph
    config gains the caller-thread executor."""

    def __init__(self, binary_graph_path: str | None = None, **options) -> None:
        #: the config the graph was built from (kept for checks)
        self.graph_config = caller_thread_config(binary_graph_path)
        super().__init__(graph_config=self.graph_config, **options)


class CallerThreadFaceMesh(FaceMesh, _InCallerThread):
    """``mp.solutions.face_mesh.FaceMesh`` (same arguments, ``process`` still works) whose
    graph runs in the calling thread; :meth:`landmarks` is its per-frame fast path. Not
    thread-safe (neither is FaceMesh): one caller at a time."""

    def __init__(self, **face_mesh_options) -> None:
        super().__init__(**face_mesh_options)
        # open the calculators (load the models) now, in this thread, not at the first frame
        self._graph.wait_until_idle()
        (self._input,) = self._input_stream_type_info

    def landmarks(self, rgb: np.ndarray) -> np.ndarray | None:
        """float32[478, 3] normalised (x, y, z) of the face in ``rgb`` (uint8[H, W, 3],
        C-contiguous), or None when there is none; the same values as ``process``."""
        if self._graph is None:
            raise RuntimeError("the face mesh is closed")
        self._graph_outputs.clear()
        self._simulated_timestamp += FRAME_STEP_US
        shared = rgb.view()
        shared.flags.writeable = False  # mediapipe copies a writeable array, shares this one
        packet = packet_creator.create_image_frame(data=shared, image_format=ImageFormat.SRGB)
        self._graph.add_packet_to_input_stream(stream=self._input,
                                               packet=packet.at(self._simulated_timestamp))
        self._graph.wait_until_idle()
        out = self._graph_outputs.get(OUTPUT)
        if out is None or out.is_empty():
            return None
        faces = _packet_getter._get_serialized_proto_list(out)
        return landmark_rows(faces[0]) if faces else None
