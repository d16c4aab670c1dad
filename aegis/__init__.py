"""AEGIS: a modular plugin framework for disaster-response AI from video.

``import aegis`` is cheap: torch, mmengine and the plugins load only when a function needs them.
"""
__version__ = "0.1.0"
