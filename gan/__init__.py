"""Training loops that give networks their roles: generator, discriminator, classifier.

>>> import gan
>>> painter = gan.load("runs/digits", "painter")  # doctest: +SKIP
>>> painter.sample(64).shape                     # doctest: +SKIP
torch.Size([64, 1, 28, 28])
"""

from .runs.folder import load

__all__ = ["load"]
