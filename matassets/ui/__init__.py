"""The Dagster UI served behind a guard that web pages in the user's browser cannot get through
(``guard.py``), started by ``matassets ui`` / ``python -m matassets.ui`` (``server.py``)."""
