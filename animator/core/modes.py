"""The engine's mode names, one table for the engine, the CLI and the batch settings."""

#: Head motion: ``natural`` follows the speech; ``reference`` is the seed pipeline's eased
#: sinusoids, reproduced exactly (docs: SEED_ALGORITHMS.md).
MOTION_MODES = ("natural", "reference")
#: Speaking state: ``causal`` (lip speed, onset confirmation and hangover: works live),
#: ``lookahead`` (offline renders: the causal state, fed a voice cue muted on the breaths
#: before speech, found up to 1 s ahead: animator.stages.breath_onsets, and each frame showing
#: the state animator.render.OFFLINE_SPEAKING_LEAD_S ahead; elsewhere the same as ``causal``)
#: or ``reference`` (the seed pipeline's whole-clip min-max weights).
SPEAKING_MODES = ("causal", "lookahead", "reference")
#: What render and batch use unless told otherwise (live is always causal).
OFFLINE_SPEAKING = "lookahead"
#: Where head angles come from: synthesised, measured, or measured plus synthesised.
HEAD_MODES = ("synth", "tracked", "mix")
#: Names the modes had before (the CLI still takes them): the seed pipeline's algorithms were
#: the ``seed`` modes, and the causal speaking state the ``stream`` one.
MODE_ALIASES = {"seed": "reference", "stream": "causal"}


def canonical_mode(name: str) -> str:
    """The mode's name today (an old name -> its new one; anything else unchanged)."""
    return MODE_ALIASES.get(name, name)
