"""civkit: connect a local Stable Diffusion model library to Civitai.

The core is host-free: nothing here imports ComfyUI, A1111 or gradio at import time.
Everything inside the package imports relatively, so it works both as top-level
``civkit`` and as ``<pack>.civkit`` when ComfyUI loads the repository as a node pack.
"""

__version__ = "0.1.0"
USER_AGENT = f"civkit/{__version__}"
