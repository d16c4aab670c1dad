"""AEGIS's built-in plugins, one package per family; each registers through the `aegis.plugins` entry points."""
