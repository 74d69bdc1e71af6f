"""Network definitions only: no pre- or post-processing, no file I/O."""
