"""aevae_core: everything in aevae that is not UI. The one data flow, hop by hop, and the
module that owns each (folders are layers: a module imports only from layers above it in
this list, never below; tests/core/test_layout.py checks it):

1. a page form or the CLI builds a config        config.TrainConfig, presets, lessons.experiments
2. ... which names a dataset                     data.registry (names, shapes), data.arrays,
                                                 data.datasets
3. ... and a network with its loss terms         model.networks, model.losses, model.shapes
4. admission refuses what could only fail        jobs.admission (engine.preflight, engine.devices)
5. the run is queued in the store                store.runs (SQLite + run folders), store.record
6. the manager starts it, fair share per owner   jobs.manager, jobs.classroom, jobs.launch
7. a worker process trains it                    jobs.worker, jobs.runner -> engine.fit
8. ... writing rows, snapshots, checkpoints      store.runs, store.snapshots, model.checkpoint
9. ... and the run's comparison metrics          jobs.run_eval (explore.metrics, lessons.checks)
10. pages read the store, live                   jobs.live_view
11. exploration computes from a checkpoint       explore.analysis, explore.projection, ...
12. and draws it                                 plots.figures, plots.charts
13. a trained model leaves as ONNX, safetensors    export (python -m aevae_core export)
    or TorchScript

Layers, top first: files, settings, data, config, presets, model, engine, plots, store, explore,
lessons, jobs, export, then the CLI (cli_common, cli_lessons, cli_export, cli, __main__).

Importing the package is free of side effects: it imports no torch, no streamlit and does no
I/O; import the modules you need (``aevae_core.engine.fit``, ``aevae_core.store.runs`` ...).
"""

__version__ = "0.1.0"
