"""The code's layout is its architecture: packages per capability, imports pointing one way.

Every import that runs (type-checking-only imports excepted, they never execute) is read from
the source, and each module is placed in a layer. A module may import its own layer or a lower
one, never a higher one: that rules out cycles between packages. Each package is also imported
alone in a fresh interpreter, which fails on a cycle Python cannot resolve.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Lowest first. A module's layer is the longest prefix of its dotted name listed here.
LAYERS = [
    ("storage",),
    ("messages",),
    ("bot",),  # modules directly in bot/: clock, errors, user_input, refs, commands, slacktext, services
    ("bot.events",),  # events out: queued with the changes the packages above make
    ("bot.people",),
    ("bot.engagement",),
    ("bot.exports",),  # the export formats, drawn on demand
    ("bot.slack",),
    ("bot.deals",),  # deals from the CRM: an engagement made, its channel set up
    ("bot.reminders",),
    ("handlers",),
    ("golive",),  # the program on top: CLI, servers, wiring, the sweep clock
    ("standin",),
    ("sandbox.harness",),  # the bot wired to the stand-in
    ("sandbox",),
    ("golive.cli",),  # the entry point: `golive sandbox` starts the sandbox
]
RANK = {name[0]: n for n, name in enumerate(LAYERS)}
PACKAGES = [
    "bot.events",
    "bot.people",
    "bot.engagement",
    "bot.exports",
    "bot.slack",
    "bot.deals",
    "bot.reminders",
]
# messages and storage are independent of each other; the stand-in knows nothing of the bot.
INDEPENDENT = {("messages", "storage"), ("storage", "messages")} | {
    ("standin", other) for other in ("storage", "messages", "bot", *PACKAGES, "handlers", "golive")
}


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        if prefix in RANK:
            return prefix
    return None


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_imports(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, imported module) for every import that runs, local imports included."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            # `from bot.people import audit` imports the module bot.people.audit, not just the package
            for a in node.names:
                found.append((node.lineno, f"{target}.{a.name}"))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def project_modules() -> list[tuple[Path, str]]:
    out = []
    for top in ("golive", "bot", "handlers", "storage", "messages", "standin", "sandbox"):
        for path in sorted((ROOT / top).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            out.append((path, module_name(path)))
    return out


def test_bot_is_a_few_capability_packages_with_few_loose_modules() -> None:
    bot = ROOT / "bot"
    loose = sorted(p.name for p in bot.glob("*.py"))
    packages = sorted(p.name for p in bot.iterdir() if (p / "__init__.py").is_file())
    assert len(loose) <= 12, loose
    assert len(packages) >= 4, packages
    for name in packages:
        doc = ast.get_docstring(ast.parse((bot / name / "__init__.py").read_text(encoding="utf-8")))
        assert doc and "import" in doc, f"bot/{name}/__init__.py must say what lives there and may import"
    # nothing in the product core wires the bot to the stand-in
    for path in bot.rglob("*.py"):
        for _line, target in runtime_imports(path, module_name(path)):
            assert not target.startswith(("standin", "sandbox")), f"{path} imports {target}"


def test_imports_point_down_the_layers() -> None:
    wrong = []
    for path, module in project_modules():
        own = layer_of(module)
        assert own is not None, module
        for line, target in runtime_imports(path, module):
            other = layer_of(target)
            if other is None or other == own:
                continue
            if RANK[other] > RANK[own] or (own, other) in INDEPENDENT:
                wrong.append(f"{path.relative_to(ROOT)}:{line}: {own} imports {target} ({other})")
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)


def test_the_layer_check_sees_a_wrong_import(tmp_path: Path) -> None:
    """The checker itself: an upward import and a type-only one are told apart."""
    src = tmp_path / "x.py"
    src.write_text(
        "from typing import TYPE_CHECKING\n"
        "from bot.slack.publish import post_checklist\n"
        "if TYPE_CHECKING:\n    from golive.app import Bot\n"
        "def f():\n    from . import sibling\n"
    )
    found = [t for _l, t in runtime_imports(src, "bot.engagement.x")]
    assert "bot.slack.publish" in found
    assert not any(t.startswith("golive") for t in found)
    assert "bot.engagement.sibling" in found
    assert RANK[layer_of("bot.slack.publish")] > RANK[layer_of("bot.engagement.x")]  # type: ignore[index]


def all_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in the file, type-checking-only ones included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            found.append((node.lineno, node.module or ""))
    return found


def test_the_core_and_the_listeners_never_import_the_program_on_top() -> None:
    """`bot/` imports neither `handlers/` nor `golive/`, and `handlers/` not `golive/`: not even
    for the type checker. `golive/` is the program that wires them."""
    wrong = []
    for top, above in (("bot", ("handlers", "golive")), ("handlers", ("golive",))):
        for path in sorted((ROOT / top).rglob("*.py")):
            for line, target in all_imports(path):
                if target.split(".")[0] in above:
                    wrong.append(f"{path.relative_to(ROOT)}:{line}: imports {target}")
    assert not wrong, "\n".join(wrong)


def test_the_check_sees_a_type_only_import_of_the_program(tmp_path: Path) -> None:
    src = tmp_path / "x.py"
    src.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from golive.app import Bot\n")
    assert (3, "golive.app") in all_imports(src)


@pytest.mark.parametrize(
    "package", ["bot", *PACKAGES, "handlers", "golive", "storage", "messages", "sandbox.harness"]
)
def test_each_package_imports_alone(package: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", f"import {package}"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
