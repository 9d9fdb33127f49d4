"""Kernels that the book build and nbmake start encrypt their connection (CurveZMQ).

Why `make book` and `make test` printed "Kernel is running over TCP without encryption" once
per notebook: ipykernel (from 7.4) logs that warning whenever the connection file it is started
with names the TCP transport and carries no CurveZMQ key. jupyter_client (from 8.9) writes keys
only when ``KernelManager.transport_encryption`` is "auto" or "required", and its default is
"disabled". A Jupyter configuration file cannot change it here: nbmake and myst-nb (the book
build) create their kernel manager with an empty configuration, not from config files.

So this module makes "auto" the default in the process that starts the kernels: the manager
then provisions a key pair whenever pyzmq supports CurveZMQ and the kernelspec declares
``"supported_encryption": ["curve"]`` (ipykernel's does), the kernel encrypts its sockets, and
the warning's cause is gone. Nothing is filtered: any other kernel warning still prints, and a
kernel that cannot encrypt still warns.

- `make test` loads it into nbmake's pytest process: ``pytest -p tools.kernel_encryption``;
- `make book` loads it as a Sphinx extension (_config.yml, ``sphinx.local_extensions``);
- `make lab` passes ``--KernelManager.transport_encryption=auto`` to JupyterLab instead, which
  reads its configuration normally.
"""

from __future__ import annotations


def enable() -> bool:
    """Make "auto" the default transport encryption of new kernel managers; return whether it is."""
    try:
        import zmq
        from jupyter_client.manager import KernelManager
    except ImportError:  # no Jupyter here: nothing starts kernels
        return False
    trait = KernelManager.class_traits().get("transport_encryption")
    if trait is None or not zmq.has("curve"):  # jupyter_client < 8.9, or pyzmq without CurveZMQ
        return False
    trait.default_value = "auto"
    return True


ENABLED = enable()  # on import: `pytest -p tools.kernel_encryption`


def setup(app):  # Sphinx extension: the book build's notebook execution
    enable()
    return {"parallel_read_safe": True, "parallel_write_safe": True}
