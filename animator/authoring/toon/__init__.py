"""The built-in procedural cartoon character ("toon") and the builder of its rig folder.

The head is a handful of ellipsoids (skull, hair shell and tuft, nose, ears; neck and torso
stay put) ray-cast per pixel in head-local coordinates: rotating the head by pitch/yaw/roll
about a pivot in the neck is just rotating the rays, occlusion is exact, and the normals give
cel shading. Flat features (eyes, brows, mouth, blush) are painted with OpenCV into a front
texture that is projected onto the skull and culled where the surface turns away. Everything
is drawn at ``supersample`` times the output size and averaged down for smooth edges.

Units: head units (skull radius about 1) in 3D, degrees for angles, pixels where named ``_px``.
Axes: x to the viewer's right, y up, z towards the viewer; the character faces +z, so its own
left is +x. Angle conventions follow the project's contract (ARCHITECTURE.md, "Angles").

``shapes`` (look and 3D model), ``texture`` (painted features), ``raycast`` (rendering),
``rig`` (the rig folder). ``animator rig toon OUTDIR`` builds it.
"""

from animator.authoring.toon.raycast import draw_head, render
from animator.authoring.toon.rig import (
    ALPHA_LEVELS,
    CONFIG_PATH,
    OPAQUE_COLOURS,
    build_toon_rig,
    encode_png,
    load_toon_config,
    plan_rig,
)
from animator.authoring.toon.shapes import LINE
from animator.authoring.toon.texture import mouth_outline, paint_face

__all__ = ["ALPHA_LEVELS", "CONFIG_PATH", "LINE", "OPAQUE_COLOURS", "build_toon_rig",
           "draw_head", "encode_png", "load_toon_config", "mouth_outline", "paint_face",
           "plan_rig", "render"]
