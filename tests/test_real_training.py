"""Real development clips in the lip model's corpus (keypoints.training.real): targets from the
aligner's phone times by the corpus' own path, the corpus' augmentation, the clip list checked."""

from __future__ import annotations

import numpy as np
import pytest

from keypoints.corpus import dataset
from keypoints.corpus.coarticulation import Segment
from keypoints.corpus.labelled import espeak_name, segments_of
from keypoints.features import log_mel


def opening(keypoints: np.ndarray) -> np.ndarray:
    return keypoints[:, 0, 1] - keypoints[:, 1, 1]


def test_labels_of_every_notation_become_the_corpus_visemes() -> None:
    # "map" in ARPAbet, with silences and stress digits: a gap, then M AE1 P, then a gap
    arpabet = [(0.0, 0.3, "SIL"), (0.3, 0.4, "M"), (0.4, 0.6, "AE1"), (0.6, 0.7, "P"),
               (0.7, 1.0, "sil")]
    segs = segments_of(arpabet, "arpabet")
    assert [s.viseme for s in segs] == ["PP", "AA", "PP"]
    assert (segs[0].start_s, segs[-1].end_s) == (0.3, 0.7)  # silences stay rest
    assert [s.viseme for s in segments_of([(0, 0.2, "aI")], "sampa")] == ["AA", "IY"]
    assert [s.viseme for s in segments_of([(0, 0.1, "ʃ"), (0.1, 0.3, "uː")], "ipa")] == \
        ["SH", "UW"]
    # a gap without a label ends the run: the first sound ends where its label ends
    assert segments_of([(0, 0.1, "B"), (0.5, 0.6, "B")], "arpabet")[0].end_s == 0.1
    assert espeak_name("sp", "arpabet") is None and espeak_name("OW0", "arpabet") == "oU"
    with pytest.raises(ValueError, match="japanese"):
        espeak_name("a", "japanese")


def test_real_clip_copies_share_targets_aligned_to_the_audio() -> None:
    from keypoints.training.real import examples_of

    sr = dataset.SAMPLE_RATE
    t = np.arange(sr) / sr
    rng = np.random.default_rng(0)
    # a vowel sounds over 0.4-0.7 s between lip closures: "m a m"
    audio = (0.2 * np.sin(2 * np.pi * 180 * t) * (t > 0.3) * (t < 0.8)
             + 0.001 * rng.standard_normal(t.size)).astype(np.float32)
    segments = [Segment("PP", 0.3, 0.4), Segment("AA", 0.4, 0.7), Segment("PP", 0.7, 0.8)]
    ex = examples_of(audio, segments, 4, 7, "x")
    assert len(ex) == 4 and ex[0].info["augmentation"] is None
    assert all(e.info["kind"] == "real" and e.info["clip"] == "x" for e in ex)
    assert np.array_equal(ex[0].features, log_mel(audio, dataset.FEATURES)[:, :100])
    for e in ex[1:]:  # augmented: other samples, the same length, the same targets
        assert e.info["augmentation"] is not None
        assert e.features.shape == ex[0].features.shape
        assert not np.array_equal(e.features, ex[0].features)
        assert np.array_equal(e.keypoints, ex[0].keypoints)
        assert np.array_equal(e.speech, ex[0].speech)
    frames = np.arange(100) / dataset.FRAME_RATE_HZ
    assert np.array_equal(ex[0].speech, (frames >= 0.3) & (frames < 0.8))
    open_ = opening(ex[0].keypoints)
    assert frames[np.argmax(open_)] == pytest.approx(0.55, abs=0.08)  # the vowel's middle
    assert open_.max() > 0.4 and abs(open_[35]) < 0.05  # closed on the bilabial at 0.35 s
    assert np.all(np.abs(open_[frames < 0.2]) < 0.01) and np.all(np.abs(open_[frames > 0.9])
                                                                  < 0.01)
    again = examples_of(audio, segments, 4, 7, "x")  # seeded
    assert all(np.array_equal(a.features, b.features) for a, b in zip(ex, again, strict=True))


def test_only_development_clips_other_than_the_talking_faces_are_trained_on(
        tmp_path, monkeypatch) -> None:
    from keypoints.corpus import real_clips
    from keypoints.training import real

    monkeypatch.setenv("ANIMATOR_REALSPEECH", str(tmp_path))  # empty: nothing may be read
    with pytest.raises(ValueError, match="bobby: not a development clip"):
        real.real_examples(("bobby",), 2, 0)  # a scored recording
    with pytest.raises(ValueError, match="nosuch: not a development clip"):
        real.real_examples(("nosuch",), 2, 0)
    with pytest.raises(ValueError, match="grid_bbaf2n: its audio is a talking face"):
        real.real_examples(("promo_pickles", "grid_bbaf2n"), 2, 0)
    assert "grid_swiz3n" in real_clips.talking_face_clips()
    # the shape model may name them (its benchmark scores the clips trained on apart)
    assert [c.name for c in real_clips.dev_clips(("grid_bbaf2n",))] == ["grid_bbaf2n"]


def test_the_real_clip_options_reach_the_recipe_and_a_refused_list_stops_at_once(
        tmp_path, monkeypatch) -> None:
    from keypoints.training import data, recipe
    from keypoints.training.data import CorpusRecipe
    from keypoints.training.fit import TrainSettings
    from keypoints.training.model import LipNetConfig
    from keypoints.training.options import chosen, recipe_parser

    args = recipe_parser("p", None, tmp_path / "m.onnx").parse_args(
        ["--real-clips", "promo_pickles,grid_bbaf2n", "--real-copies", "5"])
    rec, _ = chosen(args, CorpusRecipe(), TrainSettings())
    assert rec.real_clips == ("promo_pickles", "grid_bbaf2n") and rec.real_copies == 5
    assert chosen(recipe_parser("p", None, tmp_path).parse_args([]), CorpusRecipe(),
                  TrainSettings())[0].real_clips == ()

    def no_corpus(*_a, **_k):
        raise AssertionError("the corpus was made before the clip list was checked")

    monkeypatch.setattr(data, "build_examples", no_corpus)
    with pytest.raises(ValueError, match="talking face"):
        recipe.run(tmp_path / "m.onnx", rec, TrainSettings(), LipNetConfig(), log=lambda s: None)


def test_development_figures_leave_out_the_clips_the_lips_were_trained_on(
        tmp_path, monkeypatch) -> None:
    import json
    from types import SimpleNamespace

    from benchmarks import aligned_speech, speaking_dev

    model = tmp_path / "lips.onnx"
    (tmp_path / "lips.train.json").write_text(
        json.dumps({"recipe": {"real_clips": ["promo_pickles"]}}))
    assert aligned_speech.trained_on(model) == {"promo_pickles"}
    heard = next(c for c in aligned_speech.CLIPS if c.name == "promo_pickles")
    monkeypatch.setattr(speaking_dev, "available_clips", lambda dev: [heard])
    # the clip is skipped before its audio is read (the cache may be empty)
    assert speaking_dev.load_runs(SimpleNamespace(path=model, feature_config=None)) == []
