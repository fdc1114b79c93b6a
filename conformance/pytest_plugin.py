"""pytest plugin of the conformance suite (``--jfcheck PATH`` and the ``jfcheck`` fixture).

Stub until the conformance issue lands: registers nothing yet.
"""
