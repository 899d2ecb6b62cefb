"""The pack as ComfyUI's loader imports it, and the same file with no ComfyUI around."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from comfyui_harness import REPO, STANDINS, comfy_fixture, load_pack_into  # noqa: F401 - fixture

EXPECTED_NODES = {"CivkitLoraLoader", "CivkitCheckpointLoader", "CivkitTriggerWords", "CivkitApplyTriggers"}


def test_loaded_like_comfyui_exports_nodes_web_directory_and_routes(comfy):
    path_before = list(sys.path)
    pack = load_pack_into(comfy)

    assert "_x_" in pack.__name__ or "." not in str(comfy.custom_nodes)  # path-derived, not "civkit"
    assert pack.__name__.endswith("civkit-pack")
    assert set(pack.NODE_CLASS_MAPPINGS) == EXPECTED_NODES
    assert set(pack.NODE_DISPLAY_NAME_MAPPINGS) == EXPECTED_NODES
    assert all(name.endswith("(civkit)") for name in pack.NODE_DISPLAY_NAME_MAPPINGS.values())
    assert pack.WEB_DIRECTORY == "./javascript/comfyui"
    assert (REPO / "javascript" / "comfyui" / "civkit.js").is_file()

    # The pack root never goes onto sys.path, and `nodes` is still ComfyUI's core nodes.py.
    assert sys.path == path_before
    folder = str(comfy.custom_nodes / "civkit-pack")
    assert folder not in sys.path and str(REPO) not in sys.path[:1]
    import nodes

    assert getattr(nodes, "STANDIN", False) is True
    assert nodes.__file__.endswith("comfy_standins/nodes.py")
    # civkit's core came in under the pack's name, not as top-level `civkit`.
    assert f"{pack.__name__}.nodes.loaders" in sys.modules

    # Routes were declared on PromptServer.instance.routes (ComfyUI mounts them twice).
    paths = {route.path for route in comfy.server.routes}
    for expected in ("/civkit/search", "/civkit/model", "/civkit/downloads", "/civkit/library",
                     "/civkit/library/scan", "/civkit/triggers", "/civkit/settings", "/civkit/api-key"):
        assert expected in paths


def test_node_classes_follow_v1_conventions(comfy):
    pack = load_pack_into(comfy)
    for key, cls in pack.NODE_CLASS_MAPPINGS.items():
        assert key.startswith("Civkit")
        assert cls.CATEGORY == "civkit"
        assert cls.DESCRIPTION
        assert len(cls.OUTPUT_TOOLTIPS) == len(cls.RETURN_TYPES)
        spec = cls.INPUT_TYPES()
        for group in ("required", "optional"):
            for name, (_kind, options) in spec.get(group, {}).items():
                assert options.get("tooltip"), f"{key}.{name} has no tooltip"
        assert "api_key" not in str(spec).lower()


def test_import_is_cheap_and_does_no_network(comfy):
    # the autouse guard fails any connection; building the service is deferred to first use
    pack = load_pack_into(comfy)
    runtime = sys.modules[f"{pack.__name__}.nodes.runtime"]
    assert runtime._service is None


def _run(code: str):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          cwd="/", timeout=60)


def test_outside_comfyui_the_file_loads_with_empty_mappings():
    result = _run(f"""
        import importlib.util, sys, time
        start = time.perf_counter()
        spec = importlib.util.spec_from_file_location("civkit_pack_x_test", {str(REPO / "__init__.py")!r})
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        print(module.NODE_CLASS_MAPPINGS, module.NODE_DISPLAY_NAME_MAPPINGS, module.WEB_DIRECTORY)
        print("folder_paths" in sys.modules, any(m.startswith("civkit_pack_x_test.") for m in sys.modules))
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["{} {} ./javascript/comfyui", "False False"]


def test_outside_comfyui_as_a_package_also_exports_nothing():
    result = _run(f"""
        import importlib.util, sys
        spec = importlib.util.spec_from_file_location("pack_x_civkit", {str(REPO / "__init__.py")!r},
                                                      submodule_search_locations=[{str(REPO)!r}])
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        print(len(module.NODE_CLASS_MAPPINGS))
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"


def test_nodes_folder_imports_as_top_level_nodes_like_on_forge():
    """On Forge the pack's nodes/ is reachable as top-level `nodes`: its import must not fail."""
    result = _run(f"""
        import sys
        sys.path.insert(0, {str(REPO)!r})
        import nodes, nodes.loaders, nodes.triggers, nodes.runtime, nodes.resolve, nodes.routes
        print(sorted(nodes.NODE_CLASS_MAPPINGS))
    """)
    assert result.returncode == 0, result.stderr
    assert "CivkitLoraLoader" in result.stdout


def test_pack_import_pulls_in_nothing_heavy():
    """Loading the pack (in a fresh process, as ComfyUI would) imports no HTTP client, no SQLite,
    no safetensors and not the service: those come with the first request."""
    result = _run(f"""
        import importlib.util, os, sys, tempfile, time
        sys.path.insert(0, {str(STANDINS)!r})
        import folder_paths, server
        base = tempfile.mkdtemp()
        folder_paths._standin_reset(base)
        os.makedirs(os.path.join(base, "custom_nodes"))
        folder = os.path.join(base, "custom_nodes", "civkit-pack")
        os.symlink({str(REPO)!r}, folder)
        name = folder.replace(".", "_x_")
        start = time.perf_counter()
        spec = importlib.util.spec_from_file_location(name, os.path.join(folder, "__init__.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        elapsed = time.perf_counter() - start
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("requests", "urllib3", "sqlite3",
                       "safetensors", "blake3", "torch") or m.endswith(".civkit.service"))
        print(len(module.NODE_CLASS_MAPPINGS), heavy)
        print(f"import took {{elapsed:.3f}} s", file=sys.stderr)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "4 []"
