"""Resource namespaces of :class:`~krea_async.AsyncKrea` (``krea.jobs``, ``krea.assets``...)."""
