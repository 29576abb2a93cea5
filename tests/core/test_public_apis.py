"""The product code (aevae_core, pages, app.py) uses only the public APIs of its libraries
(issue 15): no ``torch._fused_adam_``, ``torch.__spec__._initializing``, reloads of
``numba.core.config`` or ``streamlit.runtime`` internals, which a library may change in any
release. The one exception is pages/ui/pages_folder.py (Streamlit's legacy ``pages/``
mode, see its docstring), which tests/app/test_pages_folder.py watches.

Read from the source with ``ast``: a private name is one with a leading underscore (not a
dunder) reached from a third-party import; stdlib modules are left alone (``os._exit`` is
documented). Tests and benches may use internals (tests/support/classroom_harness.py).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIRST_PARTY = {"aevae_core", "pages", "app", "__future__"}
ALLOWED = {"pages/ui/pages_folder.py": {"streamlit.runtime.pages_manager"}}
PRIVATE_MODULES = ("streamlit.runtime", "numba.core")  # no public API under these
RELOADS = ("reload", "reload_config")  # importlib.reload, numba.core.config.reload_config


def product_files() -> list[Path]:
    files = [REPO / "app.py", *(REPO / "aevae_core").rglob("*.py"), *(REPO / "pages").rglob("*.py")]
    return sorted(f for f in files if f.is_file())


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_attr(name: str) -> bool:
    return is_private(name) or name == "__spec__"


def root_name(node: ast.AST | None) -> str:
    """The name an expression such as ``getattr(torch.x, "y").z`` starts from."""
    while True:
        if isinstance(node, ast.Attribute):
            node = node.value
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "getattr":
            node = node.args[0] if node.args else None
        else:
            return node.id if isinstance(node, ast.Name) else ""


def sys_modules_key(node: ast.AST) -> str:
    """ "torch" for ``sys.modules["torch"]`` or ``sys.modules.get("torch")``, else ""."""
    if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "get" and node.args:
        node, key = node.func.value, node.args[0]
    elif isinstance(node, ast.Subscript):
        node, key = node.value, node.slice
    else:
        return ""
    if ast.unparse(node) == "sys.modules" and isinstance(key, ast.Constant):
        return str(key.value)
    return ""


def third_party(module: str) -> bool:
    root = module.split(".")[0]
    return bool(root) and root not in FIRST_PARTY and root not in sys.stdlib_module_names


def private_module(module: str, allowed: set[str]) -> bool:
    if not third_party(module) or module in allowed:
        return False
    return any(is_private(part) for part in module.split(".")) or module.startswith(PRIVATE_MODULES)


def private_uses(path: Path) -> list[str]:
    """Every private internal ``path`` reaches, as "line: what"."""
    tree = ast.parse(path.read_text(), str(path))
    rel = path.relative_to(REPO).as_posix() if path.is_relative_to(REPO) else path.name
    allowed = ALLOWED.get(rel, set())
    bound: set[str] = set()  # local names of third-party modules and objects
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if private_module(alias.name, allowed):
                    found.append(f"{node.lineno}: import {alias.name}")
                if third_party(alias.name):
                    bound.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [a.name for a in node.names]
            if private_module(node.module, allowed) or (
                third_party(node.module) and any(is_private(n) for n in names)
            ):
                found.append(f"{node.lineno}: from {node.module} import ...")
            if third_party(node.module):
                bound.update(a.asname or a.name for a in node.names)
        elif isinstance(node, ast.Assign) and third_party(sys_modules_key(node.value)):
            bound.update(t.id for t in node.targets if isinstance(t, ast.Name))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and private_attr(node.attr):
            if root_name(node.value) in bound:
                found.append(f"{node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") in RELOADS:
            found.append(f"{node.lineno}: {ast.unparse(node.func)}()")
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "getattr":
            obj, name = (node.args + [None, None])[:2]
            private = isinstance(name, ast.Constant) and private_attr(str(name.value))
            if private and root_name(obj) in bound:
                found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def test_product_code_uses_no_private_internals():
    files = product_files()
    assert len(files) > 40, "the product files were not found"
    found = [f"{f.relative_to(REPO)}:{use}" for f in files for use in private_uses(f)]
    assert not found, "private internals in product code:\n" + "\n".join(found)


def test_the_check_finds_what_issue_15_removed(tmp_path):
    """The forms the product code had before issue 15, each found."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import torch\nimport streamlit as st\nfrom numba.core import config\n"
        "from streamlit.runtime import Runtime\n"
        "torch._fused_adam_([], [])\ntorch._foreach_add_([], 1)\n"
        "x = torch.__spec__._initializing\nconfig.reload_config()\nRuntime._instance = None\n"
        "st._main\nimport os\nos._exit\ngetattr(torch, '_fused_adam_', None)\n"
        "getattr(getattr(torch, '__spec__', None), '_initializing', False)\n"
        "import sys\nt = sys.modules.get('torch')\nt._C\n"
    )
    found = private_uses(sample)
    for line in (3, 4, 5, 6, 7, 8, 9, 10, 13, 14, 17):
        assert any(use.startswith(f"{line}: ") for use in found), (line, found)
    assert not any(use.startswith("12: ") for use in found), found  # os._exit: stdlib
