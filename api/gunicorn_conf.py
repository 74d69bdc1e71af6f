"""gunicorn's settings for the API, one file for `make run` (scripts/run.sh) and the benchmarks
(bench/submit_load.py), so what is measured is what runs:

    gunicorn -c python:api.gunicorn_conf --bind HOST:PORT 'api.app:create_app()'

A request mostly waits: on the database's commit, Redis, the disk. Threads (gthread) wait for it
side by side within a process, and two processes per core keep the cores busy while one process
holds Python's lock. OCR_API_WORKERS and OCR_API_THREADS (core/settings.py) size it; each thread
takes at most one database connection at a time (db/session.py: 10 kept, 20 at most per process).
A submit's thread waits for its process's group commit (api/group_commit.py), which records every
submit waiting at that moment in one transaction: the threads bound that batch, so 16 rather than
8 (bench.submit_load, 2 cores, PostgreSQL: about 1.3x the submits/s at saturation).
"""

from __future__ import annotations

import os

from core.settings import get_settings

_settings = get_settings()

worker_class = "gthread"
workers = _settings.api_workers or 2 * (os.cpu_count() or 1)
threads = _settings.api_threads
timeout = 120
# A client that sends a request a second or so (ocrctl polling, a steady submitter) keeps its connection.
keepalive = 5
accesslog = "-"
