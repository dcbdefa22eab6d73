"""Measuring the toolkit: how fast it trains (``speed``) and how well (``quality``).

These modules import the training code and time or score it; training never imports them, so
a run carries none of this code and none of its targets (``tests/test_layout.py`` checks it).

- ``speed``: the toolkit's loop against a hand-written PyTorch loop and the machine's peak.
- ``variants``: the switches the speed benchmark measures, as config overrides (plain data, so
  the command line can list them without loading the benchmark).
- ``quality``: train the shipped configs over seeds, score them beside published tables.
- ``markdown``: replace one section of a Markdown file, leaving the rest as written.
"""
