"""The app's pages, read from app.py's ``st.Page("pages/x.py", title=...)`` calls, and each
page's literal ``st.title``: shared by the AppTest and the browser suites, so a page the app
gains is covered by both without touching them."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class PageInfo:
    path: str  # relative to app.py, e.g. "pages/train.py"
    title: str
    default: bool

    @property
    def name(self) -> str:
        return Path(self.path).stem


def _calls(path: Path, attr: str) -> list[ast.Call]:
    """Calls ``x.<attr>("literal", ...)`` in the file, in source order."""
    found = [
        node
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == attr
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ]
    return sorted(found, key=lambda node: (node.lineno, node.col_offset))


def app_pages(app: Path = REPO / "app.py") -> list[PageInfo]:
    """Every ``st.Page("pages/x.py", title=...)`` in app.py, in source order."""
    pages = []
    for node in _calls(app, "Page"):
        kw = {k.arg: k.value.value for k in node.keywords if isinstance(k.value, ast.Constant)}
        path = node.args[0].value
        title = kw.get("title") or Path(path).stem.replace("_", " ").title()
        pages.append(PageInfo(path, str(title), bool(kw.get("default", False))))
    return pages


def page_heading(page_path: str) -> str | None:
    """The literal ``st.title("...")`` of a page file, or None when it is computed."""
    calls = _calls(REPO / page_path, "title")
    return calls[0].args[0].value if calls else None
