"""The Learn page's lessons: the runs each one needs, and the measured check of its claim."""
