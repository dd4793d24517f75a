"""What several test modules share, one home each (no ``test_*.py`` imports another).

* ``paths``      -- the repository root, the capture corpus and reports, reading a capture;
* ``samples``    -- captures of representative machines, a team file, this machine's facts;
* ``cli``        -- the one CLI runner: ``python -m conda_torch`` / ``conda torch`` as a process;
* ``realconda``  -- finding a real conda (skip without one), this checkout as its plugin;
* ``slurm``      -- a real Slurm (skip without one);
* ``venvs``      -- virtual environments with a real torch (made by session fixtures);
* ``sandbox``    -- a fake conda, and a real conda over a small local channel (per test);
* ``condabox``   -- a real conda over a local channel holding real torch files (per session);
* ``forge``      -- the end-to-end stand-in conda-forge made from conda-torch's own plan;
* ``standin``    -- stand-in channels generated from the channels' per-build data;
* ``solve``      -- dry-run solves over those stand-ins;
* ``prefixes``   -- conda prefixes built from records, history and dist-info files.

The session-scoped fixtures that build the costly ones live in ``tests/conftest.py``.
"""
