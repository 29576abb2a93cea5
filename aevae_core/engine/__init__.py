"""Training one model: the loop (fit.py), optimisers, validation, the memory pre-flight, why
a run failed, and the devices the machine offers."""
