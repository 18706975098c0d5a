"""Version of the proofbound distribution."""

__version__ = "0.1.0"
