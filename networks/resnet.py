"""Placeholder until the ResNet family lands."""
from .base import Network


class ResNet(Network):
    family = "resnet"
