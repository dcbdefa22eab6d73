"""The run folder: its files, locks, checkpoints' homes, exported networks and loading them back
(``folder``), and what ``--resume`` may change (``resume``)."""
