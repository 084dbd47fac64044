"""The real-speech benchmark's readers and scores (benchmarks.realspeech, realscore): the
TextGrid / HTS / GRID readers on hand-written files, the lag convention, the non-speech
signals."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import realscore, realspeech

LONG = '''File type = "ooTextFile"
Object class = "TextGrid"

xmin = 0
xmax = 1.5
tiers? <exists>
size = 2
item []:
    item [1]:
        class = "IntervalTier"
        name = "phone"
        xmin = 0
        xmax = 1.5
        intervals: size = 3
        intervals [1]:
            xmin = 0
            xmax = 0.4
            text = ""
        intervals [2]:
            xmin = 0.4
            xmax = 0.55
            text = "B"
        intervals [3]:
            xmin = 0.55
            xmax = 1.5
            text = "AA1"
    item [2]:
        class = "TextTier"
        name = "points"
        xmin = 0
        xmax = 1.5
        points: size = 1
        points [1]:
            number = 0.5
            mark = "x ""quoted"""
'''
SHORT = '''File type = "ooTextFile"
Object class = "TextGrid"

0
1.5
<exists>
1
"IntervalTier"
"phone"
0
1.5
2
0
0.7
"m"
0.7
1.5
"sil"
'''


def test_textgrid_long_and_short_formats() -> None:
    tiers = realspeech.parse_textgrid(LONG)
    assert list(tiers) == ["phone"]  # point tiers are skipped
    assert [(i.start_s, i.end_s, i.label) for i in tiers["phone"]] == [
        (0.0, 0.4, ""), (0.4, 0.55, "B"), (0.55, 1.5, "AA1")]
    short = realspeech.parse_textgrid(SHORT)["phone"]
    assert [(i.label, i.end_s) for i in short] == [("m", 0.7), ("sil", 1.5)]


def test_phone_classes_and_speech_frames() -> None:
    phones = realspeech.parse_textgrid(LONG)["phone"]
    assert [realspeech.phone_key(i.label) for i in phones] == ["", "b", "aa"]
    assert realspeech.phone_key("B") in realspeech.BILABIALS
    assert realspeech.phone_key("AA1") in realspeech.OPEN_VOWELS
    mask = realspeech.speech_frames(phones, 150, 100.0)
    assert not mask[:40].any() and mask[40:].all()


def test_hts_and_grid_alignments() -> None:
    lab = realspeech.parse_hts_lab("0 3125000 sil\n3125000 3525000 m\n")
    assert lab[1].label == "m" and lab[1].start_s == pytest.approx(0.3125)
    full = "0 1300000 x^x-sil+hh=iy@x_x/A:0_0_0\n1300000 2050000 x^sil-hh+iy=t@1_2/A:0_0_0\n"
    assert [(i.start_s, i.end_s, i.label) for i in realspeech.parse_hts_lab(full)] == [
        (0.0, 0.13, "sil"), (0.13, 0.205, "hh")]  # a full-context label gives its phone
    grid = realspeech.parse_grid_align("0 12250 sil\n12250 19250 set\n")
    assert grid[1].start_s == pytest.approx(0.49) and grid[1].end_s == pytest.approx(0.77)


def test_a_late_prediction_has_a_positive_best_lag() -> None:
    rng = np.random.default_rng(0)
    face = np.convolve(rng.standard_normal(200), np.ones(3), "same")
    late = np.concatenate([np.zeros(2), face[:-2]])  # pred[i + 2] = face[i]
    lags = realspeech.lagged_correlations(late, face)
    assert max(lags, key=lags.get) == 2 and lags[2] == pytest.approx(1.0)
    assert realscore.auc(np.array([0.5, 0.6]), np.array([0.0, 0.5])) == pytest.approx(0.875)


def test_non_speech_signals_are_finite_and_bounded() -> None:
    signals = realspeech.non_speech(seconds=1.0)
    assert {"keyboard typing", "distant second talker"} <= set(signals)
    for name, x in signals.items():
        assert x.shape == (16000,) and np.all(np.isfinite(x)), name
        assert 0 < np.abs(x).max() <= 1.0, name


def test_bilabial_benchmark_reads_the_frame_on_screen_and_compares_raw_with_fused(rig) -> None:
    """benchmarks.bilabials: a sound's opening is that of the video frame on screen at its
    middle; on an espeak voice with p/b/m the engine's fused opening closes more of them than
    the lips' own, keeps (most) open vowels' and never changes the speaking state."""
    from benchmarks import bilabials
    from keypoints.mappingnet import MappingNet
    from keypoints.visemenet import ShapeModel
    from keypoints.visemes import Sound

    values = np.arange(10.0)
    assert bilabials.on_screen(values, 25.0, np.array([0.0, 0.039, 0.04, 0.5])).tolist() == [
        0, 0, 1, 9]
    assert bilabials.kind_of(Sound(0, 1, ("P",))) == "bilabial"
    assert bilabials.kind_of(Sound(0, 1, ("A_", "IH"))) == "open vowel"
    assert bilabials.kind_of(Sound(0, 1, ("S",))) == "other"
    (_, audio, sounds), = bilabials.synthetic_clips(1, 8.0, 7)
    clip = bilabials.measure_clip(MappingNet.load(), ShapeModel.load(), rig, audio, sounds)
    s = bilabials.summarise({"espeak": clip})
    assert s["bilabials"] >= 5 and s["speaking_identical"]
    raw, fused = s["systems"]["raw, 25 fps"], s["systems"]["fused, 25 fps"]
    assert fused["bilabials_closed"] > raw["bilabials_closed"]
    # the fusion alone (gain 1: the product's opening gain is benchmarks.mouth_range's)
    vowels = [(a, b) for a, b, k in zip(clip["open"]["raw, 25 fps"],
                                        clip["open"]["fused, gain 1, 25 fps"],
                                        clip["kinds"], strict=True) if k == "open vowel"]
    assert len(vowels) >= 5 and np.mean([a == b for a, b in vowels]) >= 0.8  # open vowels kept
