"""``civkit ui``: the A1111/Forge tab's UI as a standalone web app.

``civkit ui --demo`` needs no network and no API key: it starts the bundled Civitai emulator with
its demo catalog and a demo models folder under CIVKIT_HOME, so every feature can be tried.
gradio is imported only when the command runs.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

DEMO_KEY_NOTE = "The demo Civitai accepts the API key {key} (Settings tab), for the models that ask for one."


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "ui", help="open the civkit web UI (search, download, library)",
        description="Start the civkit web UI. Try `civkit ui --demo` first: it needs no network or API key.",
    )
    p.add_argument("--models-dir", metavar="DIR", help="your models folder (ComfyUI models/ or webui models/)")
    p.add_argument("--layout", choices=("comfyui", "a1111", "forge", "plain"),
                   help="folder layout under --models-dir (guessed when omitted)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860; 0 picks a free one)")
    p.add_argument("--demo", action="store_true", help="use the built-in Civitai emulator and a demo models folder")
    p.set_defaults(func=handler)


def _free_port(host: str) -> int:
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def ui_host(args, models_dir):
    """The host of ``civkit ui``: a models folder, and its own Settings tab as the place for the key."""
    from ..hosts.standalone import UI_KEY_HINT, StandaloneHost

    layout = args.layout or ("a1111" if args.demo and not getattr(args, "models_dir", None) else None)
    return StandaloneHost(models_dir, layout, key_hint=UI_KEY_HINT)


def handler(args, ctx) -> int:
    from ..config import civkit_home, load_config
    from .main import UsageError

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        from ..ui.app import launch_ui
    except ImportError as exc:
        raise UsageError(f"the UI needs gradio ({exc}); install it with: pip install 'civkit[ui]'") from None
    from ..service import CivkitService

    fake = None
    config = ctx.config
    if args.demo:
        from ..testing import FakeCivitai

        demo_home = civkit_home() / "demo"
        files_dir = demo_home / "catalog-files"
        files_dir.mkdir(parents=True, exist_ok=True)
        fake = FakeCivitai(files_dir=files_dir)
        fake.catalog.add_batch_models()  # a model with several versions x files, for "all files / all versions"
        fake.__enter__()
        # The demo keeps its own home (config, index) and never sends the user's real key anywhere.
        config = load_config(env={}, home=demo_home, api_base=fake.base_url)
        models_dir = Path(args.models_dir) if args.models_dir else demo_home / "models"
    elif args.models_dir:
        models_dir = Path(args.models_dir)
    else:
        raise UsageError("say where your models are: civkit ui --models-dir DIR (or try civkit ui --demo)")
    models_dir.mkdir(parents=True, exist_ok=True)
    host = ui_host(args, models_dir)
    if args.demo:  # a fresh demo folder gets the usual subfolders, so a scan finds every one
        for root in host.model_roots():
            Path(root).mkdir(parents=True, exist_ok=True)
    service = CivkitService(config, host)
    port = args.port if args.port else _free_port(args.host)
    try:
        _ui, url = launch_ui(service, host=args.host, port=port, block=False)
        print(f"civkit UI: {url}", flush=True)
        print(host.layout_note, flush=True)  # says which models folder and layout, in full
        if fake is not None:
            print(f"demo Civitai: {fake.base_url}", flush=True)
            print(DEMO_KEY_NOTE.format(key=fake.api_key), flush=True)
        print("Press Ctrl+C to stop.", flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while not stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
    finally:
        service.close()
        if fake is not None:
            fake.__exit__(None, None, None)
    sys.stdout.flush()
    return 0
