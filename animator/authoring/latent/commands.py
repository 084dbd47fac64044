"""What ``animator rig latent fit|apply`` do: file I/O around the numeric core."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from animator.authoring.latent.directions import (
    DirectionFitter,
    LatentDirections,
    LatentError,
    apply_yaw,
    read_npz,
)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


def load_training_data(path: str | Path) -> dict[str, np.ndarray]:
    """DATA.npz -> {'embeddings': [N, D], 'yaw': [N], 'groups': [N] or absent}."""
    path = Path(path)
    data = read_npz(path, "readable .npz")
    missing = [k for k in ("embeddings", "yaw") if k not in data]
    if missing:
        raise LatentError(f"{path}: missing array(s) {', '.join(missing)} (needs 'embeddings' "
                          f"N x D, 'yaw' N, optional 'groups' N)")
    return data


def fit_command(data_path, out_path, *, match=None, **params) -> str:
    from animator.core.outputs import Output, check_outputs

    check_outputs([Output(out_path, "directions file", (".npz",))], [data_path])
    data = load_training_data(data_path)
    groups = data.get("groups")
    if match is not None and groups is None:
        raise LatentError(f"{data_path}: --match needs a 'groups' array in the file")
    try:
        dirs = DirectionFitter(**params).fit(data["embeddings"], data["yaw"], groups,
                                             match=match)
    except LatentError as exc:
        raise LatentError(f"{data_path}: {exc}") from None
    dirs.save(out_path)
    return f"{out_path}: written\n{dirs.summary()}"


def _read_image(path: Path) -> np.ndarray:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise LatentError(f"{path}: not a readable image")
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.dtype != np.uint8:
        raise LatentError(f"{path}: only 8-bit images are supported")
    code = cv2.COLOR_BGRA2RGBA if img.shape[2] == 4 else cv2.COLOR_BGR2RGB
    return cv2.cvtColor(img, code)


def _write_image(path: Path, rgb: np.ndarray) -> None:
    import cv2

    from animator.core.outputs import OutputError, atomic_output

    code = cv2.COLOR_RGBA2BGRA if rgb.shape[2] == 4 else cv2.COLOR_RGB2BGR
    with atomic_output(path) as tmp:
        if not cv2.imwrite(str(tmp), cv2.cvtColor(rgb, code)):
            raise OutputError(f"{path}: cannot write an image with this extension")


def open_space(encoder=None, decoder=None, pca=None):
    from animator.authoring.latent.spaces import OnnxSpace, PcaSpace

    if pca is not None:
        if encoder or decoder:
            raise LatentError("give either --pca or --encoder/--decoder, not both")
        return PcaSpace.load(pca)
    if bool(encoder) != bool(decoder):
        raise LatentError("--encoder and --decoder go together")
    if encoder:
        return OnnxSpace(encoder, decoder)
    return None


def apply_command(directions_path, input_path, output_path, *, yaw_deg: float,
                  source_yaw_deg: float = 0.0, encoder=None, decoder=None, pca=None) -> str:
    from animator.core.outputs import Output, check_outputs

    src, out = Path(input_path), Path(output_path)
    wanted = (".npy",) if src.suffix.lower() == ".npy" else IMAGE_SUFFIXES
    check_outputs([Output(out, "latent" if wanted == (".npy",) else "image", wanted)],
                  [directions_path, input_path, encoder, decoder, pca])
    dirs = LatentDirections.load(directions_path)
    if not src.is_file():
        raise LatentError(f"{src}: file not found")
    if src.suffix.lower() == ".npy":
        from animator.core.outputs import atomic_output

        try:
            z = np.load(src, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise LatentError(f"{src}: not a readable .npy ({exc})") from None
        try:
            moved = apply_yaw(z, dirs, yaw_deg, source_yaw_deg)
        except LatentError as exc:
            raise LatentError(f"{src}: {exc}") from None
        with atomic_output(out) as tmp, open(tmp, "wb") as fh:
            np.save(fh, moved.astype(z.dtype if z.dtype.kind == "f" else np.float64))
        return f"{out}: latent(s) of shape {moved.shape} moved {source_yaw_deg:+g} -> " \
               f"{yaw_deg:+g} deg"
    if src.suffix.lower() not in IMAGE_SUFFIXES:
        raise LatentError(f"{src}: INPUT must be a .npy latent or an image "
                          f"({', '.join(IMAGE_SUFFIXES)})")
    space = open_space(encoder, decoder, pca)
    if space is None:
        raise LatentError(f"{src}: an image needs a space: --encoder/--decoder or --pca")
    if space.dim != dirs.dim:
        raise LatentError(f"{directions_path}: directions have D = {dirs.dim}, the "
                          f"{space.name} space D = {space.dim}")
    image = _read_image(src)
    z, context = space.encode_image(image)
    rgb = space.decode_image(apply_yaw(z, dirs, yaw_deg, source_yaw_deg), context)
    if image.shape[2] == 4:
        rgb = np.dstack([rgb[..., :3], image[..., 3]])
    _write_image(out, rgb)
    return f"{out}: {src.name} turned {source_yaw_deg:+g} -> {yaw_deg:+g} deg ({space.name})"
