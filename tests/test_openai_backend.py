"""The openai backend against a fake OpenAI images API on 127.0.0.1 (tests/fake_openai.py):
the official ``openai`` package does the HTTP; only the service itself is fake."""

from __future__ import annotations

import random

import numpy as np
import pytest

from animator.authoring.backend import TweenJob
from animator.authoring.openai_backend import (
    MAX_DELAY_S,
    GenerationError,
    OpenAIBackend,
    OpenAIConfigError,
    backoff_delay,
    parse_retry_after,
    price_per_image,
)
from animator.rig import RigConfig
from tests.conftest import REFERENCE_RIG_CONFIG
from tests.fake_openai import (
    FakeOpenAI,
    Response,
    always_ok,
    error_response,
    image_response,
    png_of,
)

KEY = "sk-test-0123456789SECRET"


@pytest.fixture
def config() -> RigConfig:
    raw = dict(REFERENCE_RIG_CONFIG, character="a watercolor portrait of a fox in a green scarf")
    return RigConfig.from_dict(raw, "test")


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    return monkeypatch


def serve(env, responder) -> FakeOpenAI:
    api = FakeOpenAI(responder)
    env.setenv("OPENAI_BASE_URL", api.base_url)
    return api


def base_image(value: int = 90) -> np.ndarray:
    img = np.zeros((12, 10, 4), np.uint8)
    img[..., :3] = value
    img[..., 3] = 255
    img[3, 4, 0] = 7  # a marker pixel, to tell the reference apart
    return img


def test_pose_edit_sends_prompt_reference_and_options(env, config):
    with serve(env, always_ok(201)) as api:
        backend = OpenAIBackend(size="1024x1024", quality="medium", sleep=lambda s: None)
        out = backend.pose(base_image(), config.expressions["speaking_ah"], "center",
                           "tilt_left_small", config)
    assert out.shape == (24, 16, 4) and out.dtype == np.uint8
    assert np.all(out[..., :3] == 201) and np.all(out[..., 3] == 255)
    (req,) = api.requests
    assert req.path == "/v1/images/edits"
    assert req.headers["authorization"] == f"Bearer {KEY}"
    f = req.fields
    assert (f["model"], f["size"], f["quality"], f["n"]) == ("gpt-image-1", "1024x1024",
                                                             "medium", "1")
    prompt = f["prompt"]
    assert "a watercolor portrait of a fox in a green scarf" in prompt  # from the config
    assert "mouth open vertically in an 'ah' vowel shape, jaw dropped" in prompt
    assert "toward the character's own left shoulder, which appears on the viewer's right" \
        in prompt
    assert "Keep the facial expression identical" in prompt
    assert [(name, fn) for name, fn, _ in req.files] == [("image", "reference_0.png")]
    (ref,) = req.images()
    np.testing.assert_array_equal(ref, base_image())


def test_expression_prompt_describes_the_expression_at_the_pose(env, config):
    with serve(env, always_ok()) as api:
        OpenAIBackend().expression(base_image(), config.expressions["concerned"],
                                   "nod_up_small", config)
    prompt = api.requests[0].fields["prompt"]
    assert "corners turned down in a slight frown" in prompt
    assert "eyebrows drawn together" in prompt
    assert "chin raised" in prompt


def test_tween_sends_both_neighbours(env, config):
    left, right = base_image(10), base_image(250)
    job = TweenJob("neutral_to_speaking_ah", 0.25, "neutral", "center", "speaking_ah",
                   "center", left, right, (0.0, left), (0.5, right))
    with serve(env, always_ok(60)) as api:
        out = OpenAIBackend().tween(job, config)
    assert np.all(out[..., 0] == 60)
    req = api.requests[0]
    assert [name for name, _, _ in req.files] == ["image[]", "image[]"]
    refs = req.images()
    np.testing.assert_array_equal(refs[0], left)
    np.testing.assert_array_equal(refs[1], right)
    prompt = req.fields["prompt"]
    assert "at 0% of the way, the second at 50%" in prompt
    assert "Draw the frame at 25% of the way" in prompt


def test_429_then_success_honours_retry_after(env, config):
    def responder(request, n):
        if n == 0:
            return error_response(429, "Rate limit reached", retry_after="0")
        return image_response(png_of(33))

    sleeps = []
    with serve(env, responder) as api:
        out = OpenAIBackend(sleep=sleeps.append).expression(
            base_image(), config.expressions["speaking_ee"], "center", config)
    assert np.all(out[..., 0] == 33)
    assert len(api.requests) == 2  # our retry; the client's own retries are off
    assert sleeps == [0.0]  # what Retry-After asked for


def test_5xx_retried_with_backoff_then_gives_up(env, config):
    sleeps = []
    with serve(env, lambda req, n: error_response(500, "server exploded")) as api:
        backend = OpenAIBackend(max_attempts=3, backoff_base_s=0.001, sleep=sleeps.append,
                                rng=random.Random(1))
        with pytest.raises(GenerationError, match=r"gave up after 3 attempts \(HTTP 500: "
                                                  r"server exploded\)"):
            backend.expression(base_image(), config.expressions["happy_big"], "center", config)
    assert len(api.requests) == 3
    assert len(sleeps) == 2
    assert 0.0005 <= sleeps[0] <= 0.001 and 0.001 <= sleeps[1] <= 0.002  # doubling, jittered


def test_client_errors_are_not_retried_and_the_key_is_scrubbed(env, config):
    def responder(request, n):
        return error_response(401, f"Incorrect API key provided: {KEY}.")

    with serve(env, responder) as api:
        with pytest.raises(GenerationError) as info:
            OpenAIBackend(sleep=lambda s: None).expression(
                base_image(), config.expressions["happy_big"], "center", config)
    assert len(api.requests) == 1
    assert KEY not in str(info.value)
    assert str(info.value) == "HTTP 401: Incorrect API key provided: ***."


@pytest.mark.parametrize("response, message", [
    (Response(200, b"<html>oops", {"Content-Type": "application/json"}),
     "malformed API response (not JSON"),
    (Response(200, b'{"created": 1, "data": [{}]}', {"Content-Type": "application/json"}),
     "malformed API response: no b64_json image in 'data'"),
    (Response(200, b'{"created": 1, "data": [{"b64_json": "%%%not base64"}]}',
              {"Content-Type": "application/json"}),
     "malformed API response: b64_json is not base64"),
    (image_response(b"GIF89a this is not a png"), "the returned image is not a PNG"),
    (image_response(png_of(1)[:40]), "the returned PNG cannot be decoded"),
])
def test_malformed_responses_fail_with_a_clear_message(env, config, response, message):
    with serve(env, lambda req, n: response):
        with pytest.raises(GenerationError) as info:
            OpenAIBackend(sleep=lambda s: None).expression(
                base_image(), config.expressions["happy_big"], "center", config)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_missing_key_is_a_one_line_config_error(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(OpenAIConfigError, match="^OPENAI_API_KEY is not set"):
        OpenAIBackend()


def test_bad_options_are_refused(env):
    with pytest.raises(OpenAIConfigError, match="--size"):
        OpenAIBackend(size="640x480")
    with pytest.raises(OpenAIConfigError, match="--quality"):
        OpenAIBackend(quality="ultra")


def test_retry_after_parsing():
    assert parse_retry_after({"Retry-After": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "1500"}) == 1.5
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT"},
                             now=1445412480.0) == 10.0
    assert parse_retry_after({"Retry-After": "9999"}) == MAX_DELAY_S
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({}) is None


def test_backoff_is_exponential_with_jitter_and_capped():
    rng = random.Random(0)
    for attempt in range(5):
        span = 2.0 * 2 ** attempt
        delays = [backoff_delay(attempt, 2.0, rng) for _ in range(50)]
        assert all(span / 2 <= d <= span for d in delays)
        assert len(set(delays)) > 1  # jittered
    assert backoff_delay(20, 2.0, rng) <= MAX_DELAY_S
    assert backoff_delay(3, 2.0, rng, retry_after_s=0.25) == 0.25


def test_prices():
    assert price_per_image("1024x1536", "high") == 0.25
    assert price_per_image("1024x1024", "low") == 0.011
    assert price_per_image("auto", "medium") == price_per_image("1024x1536", "medium")
