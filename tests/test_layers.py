"""The layering rule of ARCHITECTURE.md, checked on the source: imports point one way.

- bot/content, bot/plan and bot/render are pure: nothing they import, directly or through
  other bot modules, is discord, aiohttp or aiosqlite;
- nothing under bot/ or cogs/ imports the test kit, except the CLI's `demo` entry;
- outside bot/store/, nothing under bot/ or cogs/ imports a store backend (`bot.store.sqlite`,
  `bot.store.postgres`) or its driver (aiosqlite, asyncpg): they reach storage through
  `bot.store` and its interface;
- bot/store/common (what both backends share) reaches neither a backend nor a driver: each
  backend passes it its own database and dialect.

The check reads the import statements (function-level ones included), so a lazy import does
not slip through.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PURE = ("bot/content", "bot/plan", "bot/render")
IO_LIBRARIES = {"discord", "aiohttp", "aiosqlite", "asyncpg"}
BACKENDS = ("bot.store.sqlite", "bot.store.postgres")
DRIVERS = {"aiosqlite", "asyncpg"}
DEMO_ENTRY = "bot/cli/main.py"


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def imports_of(path: Path, package: list[str] | None = None) -> set[str]:
    """Absolute names of every module `path` imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    if package is None:
        package = module_name(path).split(".")
        if path.name != "__init__.py":
            package = package[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            mod = ".".join([*base, node.module] if node.module else base)
            found.add(mod)
            found.update(f"{mod}.{alias.name}" for alias in node.names)
    return found


def source_modules() -> dict[str, Path]:
    mods: dict[str, Path] = {}
    for top in ("bot", "cogs", "testkit"):
        for path in (ROOT / top).rglob("*.py"):
            mods[module_name(path)] = path
    return mods


MODULES = source_modules()


def closure(start: str) -> dict[str, str]:
    """Every module reachable from `start` through our own modules -> the module importing it."""
    seen: dict[str, str] = {start: ""}
    todo = [start]
    while todo:
        mod = todo.pop()
        for name in imports_of(MODULES[mod]):
            if name in MODULES and name not in seen:
                seen[name] = mod
                todo.append(name)
            elif name not in MODULES and name.split(".")[0] not in ("bot", "cogs", "testkit"):
                seen.setdefault(name, mod)
    return seen


def pure_modules() -> list[str]:
    return sorted(
        m for m, p in MODULES.items() if any(str(p.relative_to(ROOT)).startswith(d) for d in PURE)
    )


@pytest.mark.parametrize("module", pure_modules())
def test_pure_modules_never_reach_discord_aiohttp_or_aiosqlite(module):
    reached = closure(module)
    bad = {
        name: via
        for name, via in reached.items()
        if name.split(".")[0] in IO_LIBRARIES and name not in MODULES
    }
    assert not bad, f"{module} reaches {sorted(bad)} (first via {sorted(set(bad.values()))})"


def test_the_pure_packages_exist_and_are_checked():
    mods = pure_modules()
    for package in PURE:
        assert any(module_name(ROOT / package / "x.py").rsplit(".", 1)[0] in m for m in mods)
    assert len(mods) >= 10


@pytest.mark.parametrize(
    "path",
    sorted(str(p.relative_to(ROOT)) for top in ("bot", "cogs") for p in (ROOT / top).rglob("*.py")),
)
def test_product_never_imports_the_test_kit(path):
    names = imports_of(ROOT / path)
    kit = sorted(n for n in names if n.split(".")[0] == "testkit")
    if path == DEMO_ENTRY:
        assert kit == ["testkit.demo", "testkit.demo.run_demo"], kit
    else:
        assert not kit, f"{path} imports {kit}"


@pytest.mark.parametrize(
    "path",
    sorted(
        str(p.relative_to(ROOT))
        for top in ("bot", "cogs")
        for p in (ROOT / top).rglob("*.py")
        if not p.is_relative_to(ROOT / "bot" / "store")
    ),
)
def test_only_the_store_knows_its_backends(path):
    names = imports_of(ROOT / path)
    backend = sorted(n for n in names if n.startswith(BACKENDS) or n.split(".")[0] in DRIVERS)
    assert not backend, f"{path} imports {backend}; use bot.store (open_store, the Protocols)"


SHARED_STORE = "bot/store/common"


def shared_store_modules() -> list[str]:
    return sorted(m for m, p in MODULES.items() if p.is_relative_to(ROOT / SHARED_STORE))


@pytest.mark.parametrize("module", shared_store_modules())
def test_the_shared_store_code_knows_no_backend(module):
    reached = closure(module)
    bad = {
        name: via
        for name, via in reached.items()
        if name.startswith(BACKENDS) or name.split(".")[0] in DRIVERS
    }
    assert not bad, f"{module} reaches {sorted(bad)} (first via {sorted(set(bad.values()))})"


def test_the_shared_store_package_is_checked():
    assert len(shared_store_modules()) >= 4


def test_the_rule_sees_a_violation(tmp_path):
    """The checker itself: lazy and relative imports are found and resolved."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "def f():\n    import discord.ext.commands\n    from aiohttp import web\n"
        "from ..sandbox import Sandbox\n"
    )
    names = imports_of(bad, package=["testkit", "demo"])
    assert {"discord.ext.commands", "aiohttp.web", "testkit.sandbox.Sandbox"} <= names
