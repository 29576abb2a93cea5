"""Running stored runs in the background: admission, the fair-share queue and its manager,
worker processes, one run's execution (runner.py), the class rules, the live view."""
