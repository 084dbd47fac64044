"""The viseme corpus' extra material: festival's segment files read into sound classes, the
feature roll-off of band-limited recordings, breaths in the pauses only, a recipe without
festival that speaks espeak-ng only; and the shape decoder's rule (sure shapes at once)."""

from __future__ import annotations

import numpy as np

from keypoints.phone_labels import from_arpabet
from keypoints.viseme_training.data import VisemeRecipe, make_recording, recipe_seeds
from keypoints.viseme_training.festival import FestivalUtterance, read_segs, utterance_sounds
from keypoints.viseme_training.fit import augment_features

SEGS = """separator ;
nfields 1
#
0.1650 100 pau
0.2150 100 dh
0.2500 100 ax
0.4550 100 ow
0.6000 100 pau
"""


def test_festival_segments_become_sounds_without_silence():
    phones = read_segs(SEGS)
    assert phones[0] == (0.0, 0.165, "pau") and phones[3] == (0.25, 0.455, "ow")
    utt = FestivalUtterance(np.zeros(9600, np.float32), 16000, phones)
    audio, sounds = utterance_sounds(utt, 16000, offset_s=1.0)
    assert audio.size == 9600
    assert [s[2] for s in sounds] == [("S",), ("AX",), ("AO", "UW")]
    assert sounds[0][:2] == (1.165, 1.215) and from_arpabet("pau") == ("sil",)


def test_band_cut_lowers_only_the_bands_above_the_cut():
    f = np.full((80, 50), -2.0, np.float32)
    cuts = 0
    for seed in range(40):
        out = augment_features(f, np.random.default_rng(seed), -10.0, band_cut_share=1.0)
        plain = augment_features(f, np.random.default_rng(seed), -10.0, band_cut_share=0.0)
        assert out.shape == f.shape and np.all(out >= -10.0)
        assert np.allclose(out[:40], plain[:40])  # never below band 40
        cuts += int(np.all(out[-1] < plain[-1] - 0.05))
    assert cuts == 40


def test_a_recipe_without_festival_is_the_espeak_corpus():
    recipe = VisemeRecipe(seed=5, n_speech=1, speech_s=2.0, n_non_speech=0, festival_share=0.0)
    audio, allowed, _, info = make_recording(recipe, 0, recipe_seeds(recipe)[0])
    assert not info["voice"]["voice"].startswith("festival:")
    assert allowed.shape[1] == 9 and audio.size > 16000


def test_decoder_takes_sure_shapes_at_once_and_unsure_ones_after_two_frames():
    from keypoints.visemenet import decode
    from keypoints.visemes import SHAPE_INDEX

    def frame(shape: str, p: float) -> np.ndarray:
        out = np.full(9, (1 - p) / 8, np.float32)
        out[SHAPE_INDEX[shape]] = p
        return out

    probs = np.stack([frame("X", 0.9), frame("B", 0.5), frame("X", 0.9),  # a flicker: hidden
                      frame("C", 0.5), frame("C", 0.5),  # unsure: shown on its second frame
                      frame("A", 0.95)])  # sure: shown at once
    assert "".join("ABCDEFGHX"[k] for k in decode(probs)) == "XXXXCA"
    assert "".join("ABCDEFGHX"[k] for k in decode(probs, sure=1.1)) == "XXXXCC"


def test_breaths_go_into_pauses_only():
    from keypoints.viseme_training.breaths import add_breaths, gaps
    from keypoints.visemes import Sound

    sr = 16000
    sounds = [Sound(0.5, 1.0, ("AA",)), Sound(2.0, 2.4, ("IY",))]
    assert np.allclose(gaps(sounds, 3.0, 0.15), [(0.0, 0.45), (1.05, 1.95), (2.45, 3.0)])
    audio = np.zeros(3 * sr, np.float32)
    for s in sounds:
        audio[int(s.start_s * sr) : int(s.end_s * sr)] = 0.3
    out = add_breaths(audio, sounds, np.random.default_rng(0), sr, share=1.0)
    changed = np.flatnonzero(out != audio) / sr
    assert changed.size and all(not (s.start_s <= t < s.end_s) for t in changed[::97]
                                for s in sounds)
    level = np.sqrt(np.mean(out[int(1.05 * sr) : int(1.95 * sr)] ** 2))
    assert 0.3 * 10 ** (-36 / 20) < level < 0.3 * 10 ** (-12 / 20)  # under the speech


def test_real_clips_become_one_clean_and_augmented_copies():
    from keypoints.corpus import dataset
    from keypoints.features import log_mel
    from keypoints.viseme_training.real import examples_of
    from keypoints.visemes import Sound

    rng = np.random.default_rng(0)
    t = np.arange(dataset.SAMPLE_RATE) / dataset.SAMPLE_RATE
    audio = (0.2 * np.sin(2 * np.pi * 180 * t) * (t > 0.2) * (t < 0.6)
             + 0.001 * rng.standard_normal(t.size)).astype(np.float32)
    sounds = [Sound(0.2, 0.6, ("AA",))]
    ex = examples_of(audio, sounds, 3, 7, "x")
    assert len(ex) == 3 and ex[0].info["augmentation"] is None and ex[1].info["kind"] == "real"
    assert np.array_equal(ex[0].features, log_mel(audio, dataset.FEATURES)[:, :100])
    assert not np.array_equal(ex[0].features, ex[1].features)
    for e in ex:  # the truth is the recording's, whatever the copy
        assert np.array_equal(e.canonical, ex[0].canonical) and e.allowed.shape == (100, 9)
    again = examples_of(audio, sounds, 3, 7, "x")  # seeded
    assert all(np.array_equal(a.features, b.features) for a, b in zip(ex, again, strict=True))


def test_only_development_clips_may_be_trained_on(tmp_path):
    import json

    import pytest

    from benchmarks.visemes import trained_on
    from keypoints.viseme_training.real import real_examples

    with pytest.raises(ValueError, match="bobby: not a development clip"):
        real_examples(("bobby",), 2, 0)  # a scored clip: refused before anything is read
    (tmp_path / "m.train.json").write_text(json.dumps({"recipe": {"real_clips": ["grid_x"]}}))
    assert trained_on(tmp_path / "m.onnx") == {"grid_x"}
    assert trained_on(tmp_path / "n.onnx") == set()


def test_training_without_festival_refuses_instead_of_building_another_corpus(
        tmp_path, monkeypatch, capsys):
    """The recipe's festival share needs festival's voices: without them the training run
    stops before any work with one line saying what to do (it used to train on a corpus
    without its real-recording voices, silently)."""
    from keypoints.viseme_training import festival
    from keypoints.viseme_training.recipe import main

    monkeypatch.setattr(festival, "available", lambda: [])
    out = tmp_path / "visemes.onnx"
    assert main(["--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "festival" in err and "--festival-share 0" in err and len(err.splitlines()) == 1
    assert not any(tmp_path.iterdir())
