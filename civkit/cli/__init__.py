"""The ``civkit`` command. ``main.py`` holds the global options; each module adds a command group."""
