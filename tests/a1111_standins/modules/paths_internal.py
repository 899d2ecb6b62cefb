"""Stand-in for ``modules/paths_internal.py``; tests set these before building a host."""

script_path = "."
data_path = "."
models_path = "./models"
extensions_dir = "./extensions"
