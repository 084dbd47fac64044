"""The ``openai`` rig backend: gpt-image-1 image edits through the official ``openai`` package.

Every image is one ``client.images.edit`` call (model, prompt, the reference image(s) as PNG
files, size, quality, n=1) whose ``b64_json`` answer is decoded and checked to be a PNG.
Prompts come from animator/authoring/prompts.py. The API key is read from ``OPENAI_API_KEY``
only and never printed (it is scrubbed from every error message); ``OPENAI_BASE_URL``, which
the openai package honours, points the client elsewhere (the tests use a local fake server).

Retries are ours (the client's own are switched off): 429, 5xx and connection errors are
retried up to ``max_attempts`` times with exponential backoff and jitter, waiting what a
``Retry-After`` header asks for when there is one.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime

import numpy as np
from PIL import Image

from animator.authoring.backend import TweenJob
from animator.authoring.prompts import Descriptions, expression_prompt, pose_prompt, tween_prompt
from animator.rig import Expression, RigConfig, RigError

MODEL = "gpt-image-1"
SIZES: tuple[str, ...] = ("1024x1024", "1024x1536", "1536x1024", "auto")
QUALITIES: tuple[str, ...] = ("low", "medium", "high")
#: USD per output image of gpt-image-1 by (quality, size): OpenAI's published prices (2025).
#: 'auto' size is priced as the larger portrait/landscape size.
PRICE_USD: dict[tuple[str, str], float] = {
    ("low", "1024x1024"): 0.011, ("low", "1024x1536"): 0.016, ("low", "1536x1024"): 0.016,
    ("medium", "1024x1024"): 0.042, ("medium", "1024x1536"): 0.063,
    ("medium", "1536x1024"): 0.063,
    ("high", "1024x1024"): 0.167, ("high", "1024x1536"): 0.25, ("high", "1536x1024"): 0.25,
}
PRICE_ASSUMPTION = ("output-image prices of gpt-image-1 as published by OpenAI in 2025 "
                    "(low/medium/high: 1024x1024 $0.011/$0.042/$0.167, 1024x1536 or 1536x1024 "
                    "$0.016/$0.063/$0.25); prompt text and reference-image input tokens cost "
                    "extra (about $0.01-0.03 per call) and are not included")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Longest wait honoured from a Retry-After header or reached by the backoff (seconds).
MAX_DELAY_S = 120.0


class OpenAIConfigError(RigError):
    """The openai backend cannot start (no API key, package missing, bad option)."""


class GenerationError(Exception):
    """One image could not be made; the message says why in one line."""


def price_per_image(size: str, quality: str) -> float:
    """Assumed USD price of one output image (see PRICE_ASSUMPTION)."""
    size = "1024x1536" if size == "auto" else size
    try:
        return PRICE_USD[(quality, size)]
    except KeyError:
        raise OpenAIConfigError(f"no price known for size {size!r} at quality {quality!r}; "
                                f"sizes: {', '.join(SIZES)}; qualities: "
                                f"{', '.join(QUALITIES)}") from None


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds a response asks to wait (``retry-after-ms``, ``retry-after`` as seconds or an
    HTTP date), or None when it says nothing usable."""
    lower = {k.lower(): v for k, v in headers.items()}
    for name, scale in (("retry-after-ms", 1e-3), ("retry-after", 1.0)):
        value = lower.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            if name != "retry-after":
                continue
            try:
                when = parsedate_to_datetime(value).timestamp()
            except (TypeError, ValueError):
                continue
            seconds = when - (time.time() if now is None else now)
        if seconds == seconds:  # not NaN
            return min(max(seconds, 0.0), MAX_DELAY_S)
    return None


def backoff_delay(attempt: int, base_s: float, rng: random.Random,
                  retry_after_s: float | None = None, cap_s: float = MAX_DELAY_S) -> float:
    """Seconds to wait before retry number ``attempt`` (0 = the first retry).

    The server's Retry-After wins when given; otherwise exponential backoff with "equal
    jitter": half of ``base_s * 2**attempt`` (capped) plus a uniform random share of the other
    half, so that parallel workers do not retry in lockstep.
    """
    if retry_after_s is not None:
        return min(retry_after_s, cap_s)
    span = min(cap_s, base_s * 2.0 ** attempt)
    return 0.5 * span + rng.uniform(0.0, 0.5 * span)


def png_bytes(rgba: np.ndarray) -> bytes:
    """PNG encoding of a uint8[H, W, 4] RGBA (or [H, W, 3] RGB) array."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgba)).save(buf, "PNG")
    return buf.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    """uint8[H, W, 4] RGBA from PNG bytes; GenerationError if they are not a readable PNG."""
    if not data.startswith(PNG_SIGNATURE):
        raise GenerationError("the returned image is not a PNG")
    try:
        with Image.open(io.BytesIO(data)) as img:
            return np.asarray(img.convert("RGBA")).copy()
    except (OSError, ValueError, SyntaxError) as exc:
        raise GenerationError(f"the returned PNG cannot be decoded ({exc})") from None


class OpenAIBackend:
    """RigBackend making every image with one gpt-image-1 edit call; thread safe."""

    name = "openai"
    thread_safe = True

    def __init__(self, *, model: str = MODEL, size: str = "1024x1536", quality: str = "high",
                 max_attempts: int = 5, backoff_base_s: float = 2.0, timeout_s: float = 300.0,
                 rng: random.Random | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if size not in SIZES:
            raise OpenAIConfigError(f"--size {size}: gpt-image-1 makes {', '.join(SIZES)}")
        if quality not in QUALITIES:
            raise OpenAIConfigError(f"--quality {quality}: one of {', '.join(QUALITIES)}")
        if max_attempts < 1:
            raise OpenAIConfigError("--max-attempts must be at least 1")
        key = os.environ.get("OPENAI_API_KEY", "").strip()
        if not key:
            raise OpenAIConfigError("OPENAI_API_KEY is not set: export your OpenAI API key to "
                                    "use --backend openai (or use --dry-run to count calls)")
        try:
            import openai
        except ImportError:
            raise OpenAIConfigError("the 'openai' package is not installed: "
                                    "pip install 'openai>=1.76'") from None
        self._openai = openai
        self._key = key
        # max_retries=0: the retries below are the only ones, so their count and waits hold.
        self._client = openai.OpenAI(api_key=key, max_retries=0, timeout=timeout_s)
        self.model, self.size, self.quality = model, size, quality
        self.max_attempts, self.backoff_base_s = max_attempts, backoff_base_s
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()
        self._sleep = sleep

    # --- RigBackend ---------------------------------------------------------------------

    def expression(self, base: np.ndarray, expr: Expression, pose: str,
                   config: RigConfig) -> np.ndarray:
        prompt = expression_prompt(Descriptions.for_config(config), expr, pose)
        return self.edit([base], prompt)

    def pose(self, source: np.ndarray, expr: Expression, source_pose: str, target_pose: str,
             config: RigConfig) -> np.ndarray:
        prompt = pose_prompt(Descriptions.for_config(config), expr, source_pose, target_pose)
        return self.edit([source], prompt)

    def tween(self, job: TweenJob, config: RigConfig) -> np.ndarray:
        exprs = config.expressions
        prompt = tween_prompt(Descriptions.for_config(config), exprs[job.start_expr],
                              job.start_pose, exprs[job.end_expr], job.end_pose,
                              job.left[0], job.right[0], job.t)
        return self.edit([job.left[1], job.right[1]], prompt)

    # --- the API call -------------------------------------------------------------------

    def edit(self, references: list[np.ndarray], prompt: str) -> np.ndarray:
        """One images.edit call (retried as the module docstring says) -> RGBA array."""
        files = [(f"reference_{i}.png", png_bytes(img), "image/png")
                 for i, img in enumerate(references)]
        image = files[0] if len(files) == 1 else files
        oa = self._openai
        for attempt in range(self.max_attempts):
            try:
                response = self._client.images.edit(model=self.model, image=image,
                                                    prompt=prompt, size=self.size,
                                                    quality=self.quality, n=1)
            except (oa.APIStatusError, oa.APIConnectionError) as exc:
                status = getattr(exc, "status_code", None)
                retryable = status is None or status == 429 or status >= 500
                what = self._describe(exc)
                if not retryable:
                    raise GenerationError(what) from None
                if attempt + 1 >= self.max_attempts:
                    raise GenerationError(f"gave up after {self.max_attempts} attempts "
                                          f"({what})") from None
                headers = getattr(getattr(exc, "response", None), "headers", None) or {}
                with self._rng_lock:
                    delay = backoff_delay(attempt, self.backoff_base_s, self._rng,
                                          parse_retry_after(headers))
                self._sleep(delay)
                continue
            except oa.APIResponseValidationError as exc:
                raise GenerationError(f"malformed API response ({self._describe(exc)})") from None
            except ValueError as exc:  # the body is not JSON
                raise GenerationError(self._scrub(f"malformed API response (not JSON: {exc})")
                                      ) from None
            return self._decode(response)
        raise AssertionError("unreachable")  # the loop always returns or raises

    def _decode(self, response: object) -> np.ndarray:
        data = getattr(response, "data", None)
        b64 = getattr(data[0], "b64_json", None) if data else None
        if not isinstance(b64, str) or not b64:
            raise GenerationError("malformed API response: no b64_json image in 'data'")
        try:
            raw = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            raise GenerationError("malformed API response: b64_json is not base64") from None
        return decode_png(raw)

    def _describe(self, exc: Exception) -> str:
        status = getattr(exc, "status_code", None)
        body = getattr(exc, "body", None)
        text = body.get("message") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text:
            text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        prefix = f"HTTP {status}: " if status is not None else f"{type(exc).__name__}: "
        return self._scrub(prefix + text)

    def _scrub(self, text: str) -> str:
        """One line, with the API key (should a server echo it) blanked out."""
        return " ".join(text.replace(self._key, "***").split())
