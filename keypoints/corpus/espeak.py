"""espeak-ng through its C library (ctypes on libespeak-ng.so.1): speech with phoneme timings.

The command line gives no timings (``--pho`` needs mbrola, ``-x``/``--ipa`` have none); the
library reports, through its synth callback, every phoneme (event type 7, name in the event's
string field) with its ``audio_position`` in ms from the start of the utterance.

The library keeps global state, so :class:`Espeak` is a process-wide singleton guarded by a lock.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from dataclasses import dataclass

import numpy as np

LIBRARY = "libespeak-ng.so.1"

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS = 0x0001
_INIT_DONT_EXIT = 0x8000
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_EVENT_PHONEME = 7
#: espeak_PARAMETER values
_PARAMETERS = {"rate": 1, "volume": 2, "pitch": 3, "range": 4, "wordgap": 7}


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p),
                ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.POINTER(_Event))


class EspeakUnavailable(RuntimeError):
    """libespeak-ng.so.1 is missing (Debian: apt-get install libespeak-ng1 espeak-ng)."""


@dataclass(frozen=True)
class Phone:
    """One phoneme as espeak reports it: ``name`` (espeak mnemonic), ``start_s`` (seconds)."""

    name: str
    start_s: float


@dataclass(frozen=True)
class Utterance:
    """samples: float32[N] at ``sample_rate`` Hz; phones in time order; words: start times (s)."""

    samples: np.ndarray
    sample_rate: int
    phones: tuple[Phone, ...]
    word_starts_s: tuple[float, ...]

    @property
    def duration_s(self) -> float:
        return self.samples.size / self.sample_rate


@dataclass(frozen=True)
class VoiceSettings:
    """espeak parameters: voice name (e.g. ``en+f3``), rate (words/min, 80-450), pitch and
    pitch range (0-100), volume (amplitude, 0-200; 100 is the default)."""

    voice: str = "en"
    rate_wpm: int = 175
    pitch: int = 50
    pitch_range: int = 50
    volume: int = 100


class Espeak:
    """The espeak-ng library, initialised once per process (use :func:`espeak`)."""

    def __init__(self) -> None:
        try:
            self._lib = ctypes.CDLL(LIBRARY)
        except OSError as err:
            raise EspeakUnavailable(
                f"{LIBRARY} not found ({err}); install the Debian packages espeak-ng libespeak-ng1"
            ) from None
        lib = self._lib
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p,
                                          ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint,
                                     ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
                                     ctypes.POINTER(ctypes.c_uint), ctypes.c_void_p]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synchronize.argtypes = []
        lib.espeak_Synchronize.restype = ctypes.c_int
        self.sample_rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None,
                                                 _INIT_PHONEME_EVENTS | _INIT_DONT_EXIT)
        if self.sample_rate <= 0:
            raise EspeakUnavailable(f"espeak_Initialize failed ({self.sample_rate})")
        self._chunks: list[np.ndarray] = []
        self._phones: list[Phone] = []
        self._words: list[float] = []
        self._callback = _CALLBACK(self._on_synth)  # keep a reference: C holds the pointer
        lib.espeak_SetSynthCallback(self._callback)
        self._lock = threading.Lock()

    def _on_synth(self, wav, n_samples, events) -> int:
        if n_samples > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n_samples,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            event = events[i]
            if event.type == _EVENT_PHONEME:
                raw = bytes(event.id.string).split(b"\0", 1)[0]
                self._phones.append(Phone(raw.decode("utf-8", "replace"),
                                          event.audio_position / 1000.0))
            elif event.type == _EVENT_WORD:
                self._words.append(event.audio_position / 1000.0)
            i += 1
        return 0  # continue synthesis

    def speak(self, text: str, settings: VoiceSettings = VoiceSettings()) -> Utterance:
        """Synthesise ``text`` (UTF-8) with ``settings``; ValueError for an unknown voice."""
        with self._lock:
            if self._lib.espeak_SetVoiceByName(settings.voice.encode()) != 0:
                raise ValueError(f"espeak-ng has no voice {settings.voice!r}")
            for key, value in (("rate", settings.rate_wpm), ("pitch", settings.pitch),
                               ("range", settings.pitch_range), ("volume", settings.volume)):
                self._lib.espeak_SetParameter(_PARAMETERS[key], int(value), 0)
            self._chunks, self._phones, self._words = [], [], []
            data = text.encode("utf-8") + b"\0"
            buf = ctypes.create_string_buffer(data)
            status = self._lib.espeak_Synth(buf, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8,
                                            None, None)
            if status != 0:
                raise RuntimeError(f"espeak_Synth failed ({status}) on {text[:40]!r}")
            self._lib.espeak_Synchronize()
            pcm = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
            samples = (pcm.astype(np.float32) / 32768.0)
            return Utterance(samples, self.sample_rate, tuple(self._phones), tuple(self._words))


_INSTANCE: Espeak | None = None


def espeak() -> Espeak:
    """The process-wide :class:`Espeak` (EspeakUnavailable when the library is missing)."""
    global _INSTANCE
    if _INSTANCE is None:
        _INSTANCE = Espeak()
    return _INSTANCE
