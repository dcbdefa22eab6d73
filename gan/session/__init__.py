"""What every training loop shares, one concern a module: ``Session`` (session.py) holds a run's Accelerator, folder
and step and runs the step rhythm; checkpoints.py saves and restores; stops.py ends a run cleanly on a signal or an
unreadable file; update.py and guard.py make the one update path and its NaN guard; processes.py is what several
processes agree on; logs.py writes TensorBoard; progress.py is what a user watches; accelerator.py starts the process;
optim.py builds optimizers and learning-rate schedules.

The loops themselves (``gan/loops/``) only supply their update, their periodic jobs and their checkpoint contents.
"""
