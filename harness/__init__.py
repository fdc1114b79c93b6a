"""The harness: whole-chain runs, stress ramps, reprocessing, the truth comparison, the standalone
detector and receiver halves, the writer fault suites and the ``jfsim`` command line.

It sits above every other package of ours: it builds experiments from scenarios with the device
model (:mod:`jfjoch_hil.simulator`), checks files with :mod:`jfjoch_hil.conformance` as a library,
speaks :mod:`jfjoch_hil.stream`, and drives the writer only as a process over sockets.
"""

__all__: list[str] = []
