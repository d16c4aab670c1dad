"""Sweeps on Optuna: many ``tools/run.py`` runs over a search space, one process per run, resumable and shareable.

``space`` parses the space (``--grid``, sweep files), ``study`` holds the Optuna side (storage, sampler, pruner,
stale-trial recovery), ``worker`` runs trials, ``launch`` validates and starts a sweep here or on Slurm, ``cli`` is
``aegis sweep``. Nothing is imported here, so ``import aegis.sweep`` stays light.
"""
