"""Simulated JUNGFRAU / EIGER detectors, UDP sender, faults, receiver, analysis and scenarios.

Imports only :mod:`stream` of ours; talks to the writer only over ZeroMQ.
"""

__all__: list[str] = []
