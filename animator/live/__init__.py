"""Live mode: sources (animator/sources) in, frame choices out on a fixed schedule to the sinks
(animator/sinks), through the same :class:`animator.engine.Engine` as offline rendering.

``clock`` (the fixed schedule), ``loop`` (sources -> engine -> sinks, one slot per sink so
that a slow sink drops frames and never stalls the loop), ``realtime`` (process settings
while it runs: one BLAS thread, frozen GC, short GIL switch), ``session`` (options -> the
devices and sinks they name, opened and always released).
"""
