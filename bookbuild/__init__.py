"""Build-time machinery of the site: finds the chapter scripts in ``code/``, decides
which of them must run, runs them in isolated processes and caches their outputs.

Nothing in this package imports torch: deciding whether a chapter is up to date must
stay fast (see ``chapters.cache_key``).
"""
