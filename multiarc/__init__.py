"""multiarc: install, evaluate and support Intel Arc Pro B60 (Battlemage) GPU platforms.

The distribution maps the top-level folders ``installer/``, ``evaluation/`` and
``collect/`` to ``multiarc.installer``, ``multiarc.evaluation`` and ``multiarc.collect``;
this package holds the facts every layer shares (exit codes, device table, paths).
"""

__version__ = "0.1.0"
