#!/usr/bin/env python
"""Run a sweep on Optuna: ``python tools/sweep.py [SWEEP_FILE] --grid KEY=V1,V2 ...`` (see --help, docs/sweeps.md)."""
import sys

from aegis.sweep.cli import main

if __name__ == "__main__":
    sys.exit(main())
