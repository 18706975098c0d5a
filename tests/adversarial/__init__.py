"""Adversarial rejection tables, one module per surface (STYLE.md §2.8).

A package, so that its module names (``adversarial.test_nonce`` ...) never clash with unit tests
of the same basename, and so the tables can share :mod:`._support`.
"""
