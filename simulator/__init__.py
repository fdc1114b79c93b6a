"""The device model: simulated JUNGFRAU / EIGER detectors (:mod:`.detector`: headers, models,
packetiser, sender, packet faults), the receiver (:mod:`.receiver`: sockets, assembler, conversion,
publisher), scenes (:mod:`.scenes`) and per-image analysis (:mod:`.analysis`).

Imports only :mod:`jfjoch_hil.stream` of ours; talks to the writer only over ZeroMQ.
"""

__all__: list[str] = []
