"""The loop and its clocks, for live mode and offline rendering alike: sources in, frame
choices out to the sinks (animator/sinks), through the one :class:`animator.engine.Engine`.

``clock`` (live mode's fixed schedule; offline's as-fast-as-possible one), ``loop`` (a source
-> engine -> sinks; live: one slot per sink so that a slow sink drops frames and never stalls
the loop; offline: queues, every frame reaches every sink), ``realtime`` (process settings
while it runs: one BLAS thread, frozen GC, short GIL switch), ``session`` (live options -> the
devices and sinks they name, opened and always released).
"""
