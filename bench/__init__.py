"""The scaling benchmark of krea-async (issue 8): ``python -m bench`` or ``nox -s bench``.

Not part of the package: a fake Krea job server (:mod:`bench.server`), client runners
(:mod:`bench.clients`), the driver (:mod:`bench.run`) and an import-time probe
(:mod:`bench.import_time`). See ``bench/README.md``.
"""
