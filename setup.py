"""Build: the pure-Python package, with its hot path compiled by mypyc where possible.

mypyc (part of mypy) compiles the strictly typed modules of the resource-server hot path to C
extensions; the Python sources stay in the package and are what runs when the extensions are
absent. Set ``PROOFBOUND_PURE_PYTHON=1`` to build without compiling (no C compiler needed).
"""

from __future__ import annotations

import os

from setuptools import setup

#: Modules on the per-request path (proof and token verification, replay cache; the token
#: endpoint's form reader, nonces, client authentication and checks).
COMPILED = [
    "src/proofbound/_internal/b64.py",
    "src/proofbound/_internal/strict_json.py",
    "src/proofbound/access_token.py",
    "src/proofbound/binding.py",
    "src/proofbound/clock.py",
    "src/proofbound/dpop/htu.py",
    "src/proofbound/dpop/nonce.py",
    "src/proofbound/dpop/verify.py",
    "src/proofbound/jwk/signatures.py",
    "src/proofbound/jws.py",
    "src/proofbound/replay/base.py",
    "src/proofbound/replay/memory.py",
    "src/proofbound/server/client_auth.py",
    "src/proofbound/server/forms.py",
    "src/proofbound/server/token_endpoint.py",
]


def _ext_modules() -> list[object]:
    if os.environ.get("PROOFBOUND_PURE_PYTHON") == "1":
        return []
    from mypyc.build import mypycify

    return list(mypycify(COMPILED, opt_level="3"))


setup(ext_modules=_ext_modules())
