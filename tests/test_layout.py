"""The package's structure: imports run one way, no cycles, no private names across modules."""

import ast
import hashlib
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "nlmeans_cli"

# Imports run from the command line down to the engine; io sits beside the core and reads
# only the bottom layer. A module may import modules of its own layer or below (no cycles).
LAYERS = {
    "cli": 7,
    "jobs": 6,
    "tiling": 5, "spacetime": 5, "clip_noise": 5, "evaluation": 5,
    "denoising": 4,
    "methods": 3,
    "engine": 2,
    "io": 1.5,
    "formulation": 1, "parameters": 1, "scales": 1, "pixels": 1, "noise": 1,
    "noise_levels": 1,
    "noise_details": 1,
    "clipped_levels": 1, "clipped_noise": 1, "stabiliser": 1, "field_noise": 1,
    "photon_counts": 1, "anscombe": 1,
}


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def _imports(name, path):
    """(imported module, imported names) for every import of the package, nested ones too."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1] if node.level > 1 else package
                target = ".".join([*base, *(node.module.split(".") if node.module else [])])
            elif node.module and node.module.startswith("nlmeans_cli."):
                target = node.module.removeprefix("nlmeans_cli.")
            else:
                continue
            yield target, [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("nlmeans_cli."):
                    yield alias.name.removeprefix("nlmeans_cli."), []


MODULES = dict(_modules())


def _layer(module):
    return LAYERS.get(module.split(".")[0])


@pytest.mark.parametrize("name", [n for n in MODULES if _layer(n) is not None])
def test_imports_run_one_way(name):
    for target, _ in _imports(name, MODULES[name]):
        if target.split(".")[0] in LAYERS:
            assert _layer(target) <= _layer(name), f"{name} imports {target}, a layer above"


@pytest.mark.parametrize("name", list(MODULES))
def test_no_private_name_is_imported_from_another_module(name):
    for target, names in _imports(name, MODULES[name]):
        private = [n for n in names if n.startswith("_") and not n.endswith("__")]
        assert not private, f"{name} imports {private} from {target}"


def test_no_import_cycle():
    graph = {}
    for name, path in MODULES.items():
        # A package's own __init__ re-exports its modules; a module importing a sibling
        # through the package is an edge to the package.
        graph[name] = {t for t, _ in _imports(name, path) if t in MODULES and t != name}
    state = {}

    def visit(node, trail):
        if state.get(node) == "done":
            return
        assert state.get(node) != "open", "import cycle: " + " -> ".join([*trail, node])
        state[node] = "open"
        for nxt in sorted(graph[node]):
            # A package importing its own submodules is how a package is built, not a cycle.
            if nxt.startswith(node + ".") or node.startswith(nxt + "."):
                continue
            visit(nxt, [*trail, node])
        state[node] = "done"

    for node in sorted(graph):
        visit(node, [])


@pytest.mark.parametrize("name", list(MODULES))
def test_no_module_over_600_lines(name):
    assert len(MODULES[name].read_text().splitlines()) <= 600


# The engine's modules whose kernels inline functions of others, and those others.
INLINED = {"kernels": ("arithmetic",), "planar": ("arithmetic", "kernels", "groups"),
           "pointwise": ("arithmetic", "kernels"), "groups": ("arithmetic",)}


@pytest.mark.parametrize("name", list(INLINED))
def test_modules_that_inline_the_kernels_name_their_source(name):
    # Numba's cache checks a module's own source only: a change to a module whose functions
    # it inlines must change this one, through the digest of their sources it carries.
    engine = PACKAGE / "engine"
    sources = INLINED[name]
    digest = hashlib.sha256(b"".join((engine / f"{source}.py").read_bytes()
                                     for source in sources)).hexdigest()[:16]
    found = re.search(r'^_INLINED_DIGEST = "([0-9a-f]+)"$',
                      (engine / f"{name}.py").read_text(), re.MULTILINE)
    assert found is not None and found.group(1) == digest, (
        f"engine/{name}.py: set _INLINED_DIGEST = \"{digest}\" ({', '.join(sources)} changed)")
