"""
Settings modules: ``base`` (used by manage.py, WSGI and ASGI; every value comes from the
environment) and ``test`` (the test suite: base plus fast hashing and in-memory SMS).
"""
