"""Rig folders: a matrix of pictures (each expression at each head pose, plus tween frames).

``layout`` spells the folder's names and paths and the naming rule; ``config`` parses and
validates ``expressions.json`` (with the seed pipeline's defaults); ``folder`` loads a rig and
checks every image; ``headers`` reads image sizes and structure without decoding; ``images``
decodes rig images with bounded memory. The names below are the package's public face.
"""

from animator.rig.config import (
    BLINK_EYES,
    DEFAULT_MOUTH_SHAPES,
    REFERENCE_POSE_ANGLES,
    REST_EXPRESSION,
    BasePath,
    Expression,
    MouthPlacement,
    MouthShape,
    RigConfig,
)
from animator.rig.folder import (
    DEFAULT_CHARACTER,
    Rig,
    Sequence,
    default_rig_dir,
    load_rig,
    rig_image_size,
)
from animator.rig.layout import (
    CHART_FALLBACK,
    CHART_REQUIRED,
    CHART_SHAPES,
    CONFIG_NAME,
    ENDPOINTS_DIR,
    FRAME_FILE_PATTERN,
    IMAGE_FORMAT_KEY,
    IMAGE_FORMATS,
    LAYERS_DIR,
    MANIFEST_NAME,
    MOUTH_CHART_KEY,
    MOUTHS_DIR,
    NAME_PATTERN,
    SEQUENCES_DIR,
    RigError,
    check_name,
    endpoint_relpath,
    layer_relpaths,
    mouth_relpath,
    sequence_dirname,
    sequence_manifest,
    tween_filename,
    write_rig_metadata,
)

__all__ = [
    "BLINK_EYES", "CHART_FALLBACK", "CHART_REQUIRED", "CHART_SHAPES", "CONFIG_NAME",
    "DEFAULT_CHARACTER", "DEFAULT_MOUTH_SHAPES", "ENDPOINTS_DIR", "FRAME_FILE_PATTERN",
    "IMAGE_FORMATS", "IMAGE_FORMAT_KEY", "LAYERS_DIR", "MANIFEST_NAME", "MOUTHS_DIR",
    "MOUTH_CHART_KEY", "NAME_PATTERN", "REST_EXPRESSION", "REFERENCE_POSE_ANGLES", "SEQUENCES_DIR",
    "BasePath", "Expression", "MouthPlacement", "MouthShape", "Rig", "RigConfig", "RigError",
    "Sequence", "check_name", "default_rig_dir", "endpoint_relpath", "layer_relpaths", "load_rig",
    "mouth_relpath", "rig_image_size", "sequence_dirname", "sequence_manifest", "tween_filename",
    "write_rig_metadata",
]
