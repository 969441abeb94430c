"""Child processes of the bench: load generators, raw baselines and the measured consumers.

Each runs as `python -m bench.workers`, reads one JSON spec on stdin and writes one JSON result on
stdout, so the measuring process and the measured one never share an event loop or a GIL.
"""
