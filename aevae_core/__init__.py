"""aevae_core: everything in aevae that is not UI (datasets, models, training, store, jobs).

Importing the package is free of side effects: it imports no torch, no streamlit and does no
I/O; import the submodules you need (``aevae_core.engine.fit``, ``aevae_core.store.runs`` ...).
"""

__version__ = "0.1.0"
