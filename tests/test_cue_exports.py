"""Rhubarb-format cue exports (rhubarb-tsv, rhubarb-json, rhubarb-xml, moho-dat), each read
back by an independent reader written here from the published format (Rhubarb Lip Sync's
README: TSV, XML, JSON; Moho switch data as Rhubarb's --exportFormat dat writes it) and
round-tripped to the shapes of the render's frames."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from animator.sinks.cues import cues_from_shapes, dat_text, json_text, tsv_text, xml_text
from keypoints.assets import assets_dir

DEMO = assets_dir() / "audio" / "demo_speech.ogg"
SHAPES = set("ABCDEFGHX")


# --- readers that follow the published formats (not our writer's code) ------------------------

def read_tsv(text: str) -> tuple[list[tuple[float, str]], float]:
    """'start<TAB>shape' lines; the last line is the recording's end with a closed mouth."""
    rows = [line.split("\t") for line in text.splitlines() if line]
    assert all(len(r) == 2 for r in rows), "each line is a timestamp, a tab and a shape"
    cues = [(float(t), s) for t, s in rows]
    assert cues[0][0] == 0.0, "the very first output always has the timestamp 0.00"
    assert cues[-1][1] in ("X", "A"), "the last line is a closed mouth"
    return cues[:-1], cues[-1][0]


def read_json(text: str) -> tuple[list[tuple[float, float, str]], float]:
    doc = json.loads(text)
    cues = [(c["start"], c["end"], c["value"]) for c in doc["mouthCues"]]
    return cues, doc["metadata"]["duration"]


def read_xml(text: str) -> tuple[list[tuple[float, float, str]], float]:
    root = ET.fromstring(text.encode("utf-8"))
    assert root.tag == "rhubarbResult"
    duration = float(root.find("metadata/duration").text)
    assert root.find("metadata/soundFile") is not None
    cues = [(float(c.get("start")), float(c.get("end")), c.text)
            for c in root.find("mouthCues").findall("mouthCue")]
    return cues, duration


def read_dat(text: str) -> list[tuple[int, str]]:
    lines = text.splitlines()
    assert lines[0] == "MohoSwitch1"
    out = []
    for line in lines[1:]:
        frame, name = line.split(" ")
        out.append((int(frame), name))
    frames = [f for f, _ in out]
    assert frames[0] == 1 and frames == sorted(set(frames)), "frames count from 1, rising"
    return out


def shape_at(cues_with_end: list[tuple[float, float, str]], t: float) -> str:
    for start, end, shape in cues_with_end:
        if start <= t < end:
            return shape
    raise AssertionError(f"no cue covers {t}")


def check_continuous(cues: list[tuple[float, float, str]], duration: float) -> None:
    """Cues start at 0, each ends where the next starts, the last at the duration."""
    assert cues[0][0] == 0.0 and math.isclose(cues[-1][1], duration)
    for (_, end, _), (start, _, _) in zip(cues, cues[1:], strict=False):
        assert math.isclose(end, start)
    assert all(c[2] in SHAPES for c in cues)
    assert all(a[2] != b[2] for a, b in zip(cues, cues[1:], strict=False))


SHAPE_RUN = list("XXXXBBCDDDDCXXAAAAGGFFEEHHXX") + list("X" * 5)


@pytest.mark.parametrize("fps", [25.0, 30.0, 24.0])
def test_every_cue_format_round_trips_through_its_reader(fps):
    duration = len(SHAPE_RUN) / fps
    cues = cues_from_shapes(SHAPE_RUN, fps, duration)
    tsv, tsv_end = read_tsv(tsv_text(cues, duration))
    js, js_dur = read_json(json_text(cues, "a b/ünï.wav", duration))
    xml, xml_dur = read_xml(xml_text(cues, "a&b<c>.wav", duration))
    assert js == xml and js_dur == xml_dur == tsv_end
    check_continuous(js, js_dur)
    assert [(s, v) for s, _, v in js] == tsv
    # every frame's shape is read back at its time, truncated to hundredths; where two
    # frames fall in one hundredth (30 fps), the later one's shape stands for both
    hundredths = [math.floor(i / fps * 100 + 1e-6) for i in range(len(SHAPE_RUN))]
    for h in hundredths:
        last = max(j for j, hj in enumerate(hundredths) if hj == h)
        if h / 100 < js_dur:
            assert shape_at(js, h / 100 + 1e-9) == SHAPE_RUN[last]


def test_moho_dat_frames_follow_the_dat_frame_rate_and_names():
    fps, duration = 25.0, len(SHAPE_RUN) / 25.0
    cues = cues_from_shapes(SHAPE_RUN, fps, duration)
    for dat_fps in (24.0, 12.0, 100.0):
        rows = read_dat(dat_text(cues, duration, dat_fps))
        # each row's shape is the cue shown at that frame's start time
        for frame, name in rows[:-1]:
            t = (frame - 1) / dat_fps
            assert shape_at([(c.start_s, c.end_s, c.shape) for c in cues], t + 1e-6) == name \
                or any(1 + int(dat_fps * c.start_s + 1e-9) == frame and c.shape == name
                       for c in cues)
        assert rows[-1][1] == "X" and rows[-1][0] >= 1 + int(dat_fps * duration) - 1
    names = {n for _, n in read_dat(dat_text(cues, duration, 24.0, preston_blair=True))}
    assert names <= {"MBP", "etc", "E", "AI", "O", "U", "FV", "L", "rest"} and "rest" in names
    with pytest.raises(ValueError):
        dat_text(cues, duration, 5.0)


def _animator(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "animator", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_render_writes_every_cue_format_without_a_video(tmp_path):
    outs = {"rhubarb-tsv": tmp_path / "c.tsv", "rhubarb-json": tmp_path / "c.json",
            "rhubarb-xml": tmp_path / "c.xml", "moho-dat": tmp_path / "c.dat"}
    timeline = tmp_path / "t.json"
    args = [a for name, p in outs.items() for a in ("--export", f"{name}={p}")]
    r = _animator("render", DEMO, *args, "--timeline", timeline, "--dat-fps", "25", "-q")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.dat", "c.json", "c.tsv", "c.xml",
                                                          "t.json"]  # no video
    frames = json.loads(timeline.read_text())["frames"]
    shapes = [f["viseme"] for f in frames]
    assert set(shapes) <= SHAPES and len(set(shapes)) >= 6  # speech uses many shapes
    js, duration = read_json(outs["rhubarb-json"].read_text())
    xml, _ = read_xml(outs["rhubarb-xml"].read_text())
    tsv, _ = read_tsv(outs["rhubarb-tsv"].read_text())
    check_continuous(js, duration)
    assert js == xml and [(s, v) for s, _, v in js] == tsv
    for f in frames:  # at 25 fps every frame time is a whole hundredth: exact round trip
        if f["t"] < duration:
            assert shape_at(js, f["t"] + 1e-9) == f["viseme"]
    dat = read_dat(outs["moho-dat"].read_text())
    for frame, name in dat[:-1]:  # --dat-fps 25 = the video's rate: DAT frame n = frame n-1
        assert frames[frame - 1]["viseme"] == name


def test_cue_export_refuses_a_wrong_extension_and_an_input(tmp_path):
    r = _animator("render", DEMO, "--export", f"rhubarb-tsv={tmp_path / 'c.json'}")
    assert r.returncode == 2 and "c.json" in r.stderr and "Traceback" not in r.stderr
    copy = tmp_path / "speech.ogg"
    copy.write_bytes(Path(DEMO).read_bytes())
    r = _animator("render", copy, "--export", f"moho-dat={tmp_path / 'x.dat'}",
                  "--dat-fps", "5")
    assert r.returncode == 2 and "--dat-fps" in r.stderr
