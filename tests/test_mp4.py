"""The mp4 writer and the video sink: files that play anywhere (H.264 yuv420p, AAC, the
index first), frames handed to FFmpeg unchanged, still frames composed once."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np

from animator.engine import EngineConfig
from animator.render import render
from animator.sinks import mp4
from animator.sinks.compose_i420 import I420Compositor
from animator.sinks.mp4 import Mp4Writer, StillFrames, to_yuv420, yuv_frame
from keypoints.assets import assets_dir

DEMO = assets_dir() / "audio" / "demo_speech.ogg"


def _top_level_boxes(path: Path) -> list[str]:
    """The names of an mp4's top-level boxes, in file order."""
    data, names, pos = path.read_bytes(), [], 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos:pos + 4], "big")
        names.append(data[pos + 4:pos + 8].decode("latin-1"))
        if size == 1:
            size = int.from_bytes(data[pos + 8:pos + 16], "big")
        pos += max(size, 8)
    return names


def _cartoon(i: int, size=(96, 64)) -> np.ndarray:
    """uint8[H, W, 3]: flat colours and a moving disc, like a character on a background."""
    w, h = size
    img = np.full((h, w, 3), (236, 240, 244), np.uint8)
    cv2.circle(img, (20 + 2 * i, 32), 14, (200, 90, 60), -1)
    cv2.rectangle(img, (60, 10), (90, 50), (40, 120, 200), -1)
    return img


def test_mp4_plays_anywhere_and_keeps_the_frames(tmp_path):
    """H.264 in yuv420p, AAC, the index (moov) before the media (mdat) so players and
    browsers start at once; every frame decodes close to its source (PSNR > 35 dB)."""
    path = tmp_path / "v.mp4"
    frames = [_cartoon(i) for i in range(30)]
    t = np.arange(16000, dtype=np.float32) / 16000
    with Mp4Writer(path, (96, 64), 25.0, 0.3 * np.sin(2 * np.pi * 220 * t)[None], 16000) as w:
        for img in frames:
            w.write(img)
    boxes = _top_level_boxes(path)
    assert boxes.index("moov") < boxes.index("mdat")
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert (video.codec_context.name, video.codec_context.pix_fmt) == ("h264", "yuv420p")
        assert audio.codec_context.name == "aac"
        decoded = [f.to_ndarray(format="yuv420p") for f in container.decode(video=0)]
    assert len(decoded) == len(frames)
    for got, img in zip(decoded, frames, strict=True):
        mse = np.mean((got.astype(np.float64) - to_yuv420(img)) ** 2)
        assert 10 * np.log10(255**2 / max(mse, 1e-9)) > 35


def test_yuv_frames_fill_ffmpegs_padded_planes_exactly():
    """A width whose chroma rows FFmpeg pads (720 -> 368-byte rows for 360 pixels)."""
    rng = np.random.default_rng(0)
    for size in ((720, 406), (512, 512), (34, 18)):
        yuv = to_yuv420(rng.integers(0, 256, (size[1], size[0], 3), np.uint8))
        frame = yuv_frame(yuv, size)
        assert np.array_equal(frame.to_ndarray(format="yuv420p"), yuv)
        assert np.array_equal(frame.to_ndarray(format="yuv420p"),
                              av.VideoFrame.from_ndarray(yuv, format="yuv420p").to_ndarray())


def test_still_frame_cache_is_bounded_and_keeps_the_recent_ones():
    one = np.zeros((96, 64), np.uint8)
    cache = StillFrames(max_bytes=3 * one.nbytes)
    for k in range(5):
        cache.put(str(k), one.copy())
        assert cache.n_bytes <= 3 * one.nbytes
    assert cache.get("0") is None and cache.get("4") is not None
    cache.get("2")  # used: kept over "3"
    cache.put("5", one.copy())
    assert cache.get("3") is None and cache.get("2") is not None


def test_a_still_head_is_composed_once_per_image_and_gives_the_same_video(tmp_path,
                                                                          monkeypatch):
    """--motion-gain 0: no residual move, so every choice is a still frame; the cached
    frames make the same file as composing every frame."""
    calls = []
    compose = I420Compositor.compose
    monkeypatch.setattr(I420Compositor, "compose",
                        lambda self, choice: calls.append(1) or compose(self, choice))
    config = EngineConfig(motion_gain=0.0)
    result = render(DEMO, tmp_path / "cached.mp4", config=config, width_px=128)
    n_composed = len(calls)
    monkeypatch.setattr(mp4, "STILL_CACHE_BYTES", 0)
    render(DEMO, tmp_path / "every.mp4", config=config, width_px=128)
    assert len(calls) - n_composed == result.n_frames  # without the cache: every frame
    assert n_composed < result.n_frames / 4
    assert (tmp_path / "cached.mp4").read_bytes() == (tmp_path / "every.mp4").read_bytes()


def test_encoder_options_reach_x264_and_the_cli_defaults_are_the_writers(tmp_path):
    import argparse

    from animator.cli import render as cli_render
    from benchmarks.realdata import realdata_dir
    from tests.cli import animator

    parser = argparse.ArgumentParser()
    cli_render.add_encoder_options(parser)
    defaults = parser.parse_args([])
    assert (defaults.preset, defaults.crf) == (mp4.X264_PRESET, mp4.X264_CRF)
    clip = realdata_dir() / "talking_faces" / "bbaf2n.mpg"
    for name, extra in (("default", ()), ("fast", ("--preset", "ultrafast", "--crf", "30"))):
        res = animator("render", clip, "-o", tmp_path / f"{name}.mp4", "--width", "128",
                       *extra)
        assert res.returncode == 0, res.stderr
    # ultrafast writes CAVLC (no CABAC): the avcC profile is Constrained Baseline (66)
    profiles = []
    for name in ("default", "fast"):
        with av.open(str(tmp_path / f"{name}.mp4")) as container:
            profiles.append(container.streams.video[0].codec_context.profile)
    assert profiles[0] == "High" and profiles[1] == "Constrained Baseline"


def test_a_render_without_the_lip_thread_writes_the_same_file(tmp_path):
    """Batch workers render with lip_thread=False (a core each): the same video bytes."""
    for name, threaded in (("a", True), ("b", False)):
        render(DEMO, tmp_path / f"{name}.mp4", width_px=96, progress=False,
               lip_thread=threaded)
    assert (tmp_path / "a.mp4").read_bytes() == (tmp_path / "b.mp4").read_bytes()


def _texture(i: int, size=(256, 192)) -> np.ndarray:
    """uint8[H, W, 3]: a smooth texture panning by 3 px a frame and a disc moving across it,
    so that the encoder's motion search and B-frames have work to do."""
    w, h = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    x = x + 3 * i
    img = np.stack([128 + 90 * np.sin(x / 9) * np.cos(y / 13), 128 + 80 * np.cos(x / 17),
                    128 + 70 * np.sin((x + y) / 11)], axis=-1).astype(np.uint8)
    cv2.circle(img, (30 + 4 * i, h // 2), 25, (230, 60, 40), -1)
    return img


def test_frame_threads_make_the_pictures_of_one_thread(tmp_path):
    """x264's frame threads (the render's default) decode to the frames one thread makes
    (bit-identical here; > 60 dB apart at most where a thread's motion search waits for its
    reference); the thread count is in the stream's settings, and slices are never used
    (they change the picture at the codec's own error level, ~45-50 dB)."""
    frames = [_texture(i) for i in range(40)]
    decoded, settings = [], []
    for threads in (1, 2):
        path = tmp_path / f"t{threads}.mp4"
        with Mp4Writer(path, (256, 192), 25.0, threads=threads) as w:
            for img in frames:
                w.write(img)
        with av.open(str(path)) as container:
            decoded.append([f.to_ndarray(format="yuv420p")
                            for f in container.decode(video=0)])
        settings.append(mp4.x264_settings(path))
    assert len(decoded[0]) == len(decoded[1]) == len(frames)
    for a, b in zip(*decoded, strict=True):
        mse = np.mean((a.astype(np.float64) - b) ** 2)
        assert mse == 0 or 10 * np.log10(255**2 / mse) > 60
    assert [(s["threads"], s["sliced_threads"]) for s in settings] == [("1", "0"), ("2", "0")]


def test_a_render_is_constant_rate_h264_with_the_shipped_settings(tmp_path):
    """What editors and players need: every frame at 1/fps steps (constant frame rate, no
    frame dropped or repeated by timestamps), yuv420p, the index first; x264's settings in
    the stream are the shipped ones; the pictures are the composed frames (PSNR floor)."""
    from animator.rig import default_rig_dir, load_rig
    from animator.sinks.compose import FrameCompositor

    path = tmp_path / "r.mp4"
    result = render(DEMO, path, width_px=128, progress=False)
    settings = mp4.x264_settings(path)
    assert settings["threads"] == str(mp4.ENCODER_THREADS)
    assert settings["sliced_threads"] == "0" and float(settings["crf"]) == mp4.X264_CRF
    assert settings["subme"] == "1" and settings["me"] == "dia"  # superfast's
    boxes = _top_level_boxes(path)
    assert boxes.index("moov") < boxes.index("mdat")
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        assert video.average_rate == 25 and video.codec_context.pix_fmt == "yuv420p"
        decoded = [(f.pts, f.to_ndarray(format="yuv420p")) for f in container.decode(video=0)]
        step = round(1 / (25 * video.time_base))
    assert len(decoded) == result.n_frames == round(25 * result.duration_s)
    pts = [p for p, _ in decoded]
    assert np.all(np.diff(pts) == step) and pts[0] == 0
    planes = I420Compositor(FrameCompositor(load_rig(default_rig_dir()), 128))
    for (_, got), frame in list(zip(decoded, result.frames, strict=True))[::25]:
        want = planes.compose(frame.choice)
        mse = np.mean((got.astype(np.float64) - want) ** 2)
        assert 10 * np.log10(255**2 / max(mse, 1e-9)) > 38
