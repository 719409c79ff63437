"""A Griffe extension for the API reference (mkdocs.yml, tests/test_docs_reference.py).

pyproject installs the folder ``backends/`` as the package ``nnkit.backends``; Griffe reads
sources without importing them and would not find it under ``nnkit/``. This extension loads
``backends/`` and hangs it on the ``nnkit`` package as ``nnkit.backends``, as the install does.
"""

from pathlib import Path

import griffe

BACKENDS = Path(__file__).resolve().parents[1] / "backends"


class BackendsAsNnkitBackends(griffe.Extension):
    """After Griffe loads ``nnkit``, load ``backends/`` as its member ``backends``."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs) -> None:
        """Attach ``backends/`` to the ``nnkit`` package (other packages: nothing)."""
        if pkg.name == "nnkit":
            pkg.set_member("backends", loader.load(BACKENDS))
