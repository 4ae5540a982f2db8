"""Unitree G1 over DDS: the hg message types, the CRC, conversions and the G1 bridge.

Submodules import cyclonedds lazily (``messages.load()``), so importing this package costs
nothing and a missing cyclonedds only breaks the code that talks DDS.
"""
