"""The errors that mean bad input (a file, a folder, a model, an option), not a bug.

Each carries a one-line message naming the file and the problem; the CLI prints it and
exits with status 2, no traceback.
"""

from animator.fsutil import OutputError
from animator.latent.directions import LatentError
from animator.live import LiveError
from animator.rig import RigError
from animator.rigbuild.warp import WarpError
from keypoints.audio import AudioError
from keypoints.mappingnet import ModelContractError

USER_ERRORS: tuple[type[Exception], ...] = (AudioError, RigError, ModelContractError,
                                            OutputError, LatentError, WarpError, LiveError)
