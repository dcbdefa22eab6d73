"""Measuring what a run learned: the metrics, their registry, scoring during training, held-out and
regression scores, retrieval scores and `gan evaluate`. Nothing here trains."""
