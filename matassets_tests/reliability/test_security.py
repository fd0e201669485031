"""Security rules, each checked so that a regression fails: the webserver binds 127.0.0.1 by default,
every ``torch.load`` passes ``weights_only=True`` and nothing unpickles files, SQL is parameterised,
and secrets come from the environment only and never reach a log line."""

from __future__ import annotations

import ast
import json
import logging
import pickle
import re
import subprocess
import sys
from pathlib import Path

import pytest

from matassets.secrets import MASK, MissingSecretError, Secret, get_secret, redact

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "matassets"
SOURCES = sorted(PACKAGE.rglob("*.py"))
LOOPBACK = "127.0.0.1"


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _dotted(node: ast.AST) -> str:
    """``a.b.c`` for a Name/Attribute chain, '' otherwise."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def _calls(path: Path):
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Call):
            yield node, _dotted(node.func)


# ---------------------------------------------------------------- the webserver binds loopback


def _recipe(makefile: str, target: str) -> str:
    match = re.search(rf"^{target}:.*\n((?:\t.*\n?)+)", makefile, flags=re.M)
    assert match, f"no `{target}` target in the Makefile"
    return match.group(1)


def test_make_ui_binds_loopback():
    """``make ui`` runs the guarded server (``matassets ui``, docs/deploy.md) on loopback, and that
    command binds loopback by default too."""
    import argparse

    from matassets.ui.server import add_arguments

    recipe = _recipe((REPO / "Makefile").read_text(), "ui")
    assert "matassets ui" in recipe and "dagster dev" not in recipe
    assert re.search(rf"(-h|--host)\s+{re.escape(LOOPBACK)}\b", recipe), recipe
    assert "0.0.0.0" not in recipe
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert parser.parse_args([]).host == LOOPBACK


def test_every_launcher_binds_loopback_and_docker_publishes_on_loopback():
    """Outside the container entry point every command that starts the webserver names
    127.0.0.1; the container binds 0.0.0.0 (the only way a published port reaches it), so every
    documented ``docker run`` publishes the port on the host's loopback."""
    launch = re.compile(r"dagster(-webserver| dev|_webserver)\b|matassets ui\b")
    files = [REPO / "Makefile", *SOURCES, *(REPO / "bench").rglob("*.py"), *(REPO / ".ci").glob("*")]
    files += [p for p in (REPO / "docker").glob("*") if p.name != "entrypoint.sh"]
    checked = 0
    for path in files:
        if not path.is_file():
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            code = line.split("#")[0]
            if launch.search(code) and re.search(r"\s(-h|--host)\s|\bhost\b", code):
                checked += 1
                assert LOOPBACK in code and "0.0.0.0" not in code, f"{path}:{n}: {line.strip()}"
    assert checked >= 1
    docs = [REPO / "README.md", *(REPO / "docs").rglob("*.md")]
    published = 0
    for path in docs:
        if not path.exists():
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "docker run" in line:
                for port in re.findall(r"(?:-p|--publish)[ =](\S+)", line):
                    published += 1
                    assert port.startswith(f"{LOOPBACK}:"), f"{path}:{n}: publishes {port}"
    entrypoint = (REPO / "docker" / "entrypoint.sh").read_text()
    if "0.0.0.0" in entrypoint:
        assert published >= 1 and "-p 127.0.0.1:3000:3000" in entrypoint


@pytest.mark.slow
def test_dagster_webserver_defaults_to_loopback():
    """If a launcher ever drops ``-h``, the webserver itself still binds 127.0.0.1."""
    webserver = Path(sys.executable).with_name("dagster-webserver")
    out = subprocess.run([str(webserver), "--help"], capture_output=True, text=True, timeout=120)
    assert re.search(rf"--host TEXT\s+Host to run server on\s+\[default: {re.escape(LOOPBACK)}\]", out.stdout)


# ---------------------------------------------------------------- no unpickling


def test_every_torch_load_passes_weights_only_true():
    found = []
    for path in SOURCES:
        for call, name in _calls(path):
            if name == "torch.load" or name.endswith(".torch.load"):
                found.append(f"{path.relative_to(REPO)}:{call.lineno}")
                weights = {k.arg: k.value for k in call.keywords}.get("weights_only")
                assert isinstance(weights, ast.Constant) and weights.value is True, found[-1]
    assert len(found) >= 3, found  # checkpoints, graph store, warm start at least
    # nothing imports torch.load under another name to dodge this scan
    for path in SOURCES:
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.ImportFrom) and node.module == "torch":
                assert "load" not in {a.name for a in node.names}, path


UNSAFE_LOADERS = {
    "pickle.load",
    "pickle.loads",
    "pickle.Unpickler",
    "cPickle.load",
    "dill.load",
    "dill.loads",
    "cloudpickle.load",
    "cloudpickle.loads",
    "joblib.load",
    "pandas.read_pickle",
    "pd.read_pickle",
    "shelve.open",
    "marshal.load",
    "marshal.loads",
    "yaml.unsafe_load",
    "yaml.full_load",
}


def test_no_unpickling_loader_anywhere_in_the_package():
    """No pickle-family loader at all (TorchScript's ``torch.jit.load``, used for the project's own
    MACE export, runs no pickle code and is not listed)."""
    for path in SOURCES:
        tree = _tree(path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
                assert not {"pickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"} & set(modules), (
                    f"{path.relative_to(REPO)}:{node.lineno} imports an unpickler"
                )
        for call, name in _calls(path):
            assert name not in UNSAFE_LOADERS, f"{path.relative_to(REPO)}:{call.lineno}: {name}"
            if name == "yaml.load":
                loader = _dotted({k.arg: k.value for k in call.keywords}.get("Loader", ast.Name("")))
                assert "Safe" in loader, f"{path.relative_to(REPO)}:{call.lineno}: yaml.load, no SafeLoader"
            if name.endswith("load") and name.split(".")[0] in ("np", "numpy"):
                kw = {k.arg: k.value for k in call.keywords}
                allow = kw.get("allow_pickle")
                assert allow is None or (isinstance(allow, ast.Constant) and allow.value is False), (
                    f"{path.relative_to(REPO)}:{call.lineno}: numpy load with allow_pickle"
                )


def test_skops_loads_trust_an_explicit_list():
    """The random forest is stored with skops (no pickle); loading must never trust everything."""
    for path in SOURCES:
        for call, name in _calls(path):
            if name.endswith(".load") and name.split(".")[0] in ("sio", "skops"):
                kw = {k.arg: k.value for k in call.keywords}
                trusted = kw.get("trusted")
                assert trusted is not None, f"{path}:{call.lineno}: skops load without trusted="
                assert not (isinstance(trusted, ast.Constant) and trusted.value is True), path


# ---------------------------------------------------------------- SQL is parameterised

SQL_CALLS = ("execute", "executemany", "executescript")


def _constant_tuple(node: ast.AST, module: ast.Module) -> bool:
    """True for a tuple/list of string literals, or a module-level name bound to one."""
    if isinstance(node, ast.Tuple | ast.List):
        return all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts)
    if isinstance(node, ast.Name):
        for stmt in module.body:
            if isinstance(stmt, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == node.id for t in stmt.targets
            ):
                return _constant_tuple(stmt.value, module)
    return False


def _loop_sources(module: ast.Module) -> dict[str, list[ast.AST]]:
    """Loop variable name -> the iterables it is bound from (for loops and comprehensions)."""
    out: dict[str, list[ast.AST]] = {}
    for node in ast.walk(module):
        pairs = []
        if isinstance(node, ast.For):
            pairs.append((node.target, node.iter))
        if isinstance(node, ast.comprehension):
            pairs.append((node.target, node.iter))
        for target, it in pairs:
            if isinstance(target, ast.Name):
                out.setdefault(target.id, []).append(it)
    return out


def _psycopg_composed(node: ast.AST) -> bool:
    """``sql.SQL(<literal>).format(sql.Identifier(...) | sql.Literal(...), ...)``: psycopg2 quotes
    each part itself, so a name can never close the statement."""

    def called(n: ast.AST, name: str) -> bool:
        return isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == name

    if not (called(node, "format") and called(node.func.value, "SQL")):
        return False
    template = node.func.value.args
    literal = (
        len(template) == 1 and isinstance(template[0], ast.Constant) and isinstance(template[0].value, str)
    )
    return literal and all(called(a, "Identifier") or called(a, "Literal") for a in node.args)


def test_sql_is_parameterised():
    """Every SQL statement is a literal with ``?`` placeholders; the only text spliced in is a
    table name taken from a constant tuple of table names; a statement passed through a helper's
    parameter is a literal at every call of that helper."""
    checked = 0
    for path in SOURCES:
        module = _tree(path)
        loops = _loop_sources(module)
        helpers: dict[str, str] = {}  # function name -> its parameter that reaches execute()
        for func in ast.walk(module):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            params = {a.arg for a in func.args.args}
            for call in ast.walk(func):
                if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)):
                    continue
                if call.func.attr not in SQL_CALLS or not call.args:
                    continue
                checked += 1
                sql, where = call.args[0], f"{path.relative_to(REPO)}:{call.lineno}"
                if isinstance(sql, ast.Constant) and isinstance(sql.value, str):
                    continue
                if isinstance(sql, ast.Name) and sql.id in params:
                    assert len(call.args) == 2 or call.func.attr == "executescript", where
                    helpers[func.name] = sql.id
                    continue
                if isinstance(sql, ast.Name):  # a module-level literal, e.g. SCHEMA
                    assert any(
                        isinstance(s, ast.Assign)
                        and any(isinstance(t, ast.Name) and t.id == sql.id for t in s.targets)
                        and isinstance(s.value, ast.Constant)
                        for s in module.body
                    ), f"{where}: SQL from a variable that is not a module-level literal"
                    continue
                if _psycopg_composed(sql):  # sql.SQL("literal {}").format(sql.Identifier(x)): quoted
                    continue
                assert isinstance(sql, ast.JoinedStr), f"{where}: SQL built with + / % / format"
                for part in sql.values:
                    if isinstance(part, ast.FormattedValue):
                        assert isinstance(part.value, ast.Name), f"{where}: spliced expression"
                        sources = loops.get(part.value.id, [])
                        assert sources and all(_constant_tuple(s, module) for s in sources), (
                            f"{where}: {part.value.id!r} is not a table name from a constant tuple"
                        )
        for call, name in _calls(path):
            short = name.rsplit(".", 1)[-1]
            if short in helpers and call.args:
                first = call.args[0]
                assert isinstance(first, ast.Constant) and isinstance(first.value, str), (
                    f"{path.relative_to(REPO)}:{call.lineno}: {short}() needs a literal statement"
                )
    if not (PACKAGE / "topo").exists():
        pytest.skip("no SQL in the package yet (matassets/topo/ absent)")
    assert checked >= 5
    # the behaviour (formulas like "x'; DROP TABLE labels; --" find nothing and drop nothing) is
    # tested in topo/test_topo_db.py::test_formula_sql_injection_is_harmless


# ---------------------------------------------------------------- secrets


def test_secret_comes_from_the_environment_and_never_prints(monkeypatch, caplog, capsys):
    value = "mp-unit-test-key-0123456789abcdef"
    monkeypatch.delenv("MP_API_KEY", raising=False)
    with pytest.raises(MissingSecretError, match="MP_API_KEY is not set; export it"):
        get_secret("MP_API_KEY")
    assert get_secret("MP_API_KEY", required=False) is None
    monkeypatch.setenv("MP_API_KEY", f"  {value}\n")
    key = get_secret("MP_API_KEY")
    assert key.reveal() == value
    log = logging.getLogger("matassets.test_security")
    with caplog.at_level(logging.DEBUG):
        log.info("key %s", key)
        log.info(f"key {key} {key!r} {key:>40}")
        log.info("key %r", key)
        log.warning("config %s", {"api_key": key})
        print(key, [key], {"k": key}, str(key), format(key))
    out = capsys.readouterr()
    text = caplog.text + out.out + out.err
    assert value not in text and text.count(MASK) >= 8
    assert str(key) == f"Secret(MP_API_KEY={MASK})"
    with pytest.raises(TypeError, match="not serialised"):
        pickle.dumps(key)
    with pytest.raises(TypeError):
        json.dumps({"key": key})
    assert redact(f"401 for key={value}", key) == f"401 for key={MASK}"
    assert isinstance(key, Secret)


SECRET_NAME = re.compile(r"(API_?KEY|TOKEN|SECRET|PASSWORD)", re.I)


def test_secrets_are_read_only_through_get_secret():
    """No module reads a key/token/password variable from the environment by itself, and no
    literal value is assigned to one."""
    for path in SOURCES:
        if path.name == "secrets.py":
            continue
        text = path.read_text(encoding="utf-8")
        for call, name in _calls(path):
            if name in ("os.environ.get", "os.getenv", "environ.get", "getenv") and call.args:
                arg = call.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    assert not SECRET_NAME.search(arg.value), f"{path}:{call.lineno}: use get_secret"
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Subscript) and _dotted(node.value) == "os.environ":
                key = node.slice
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    assert not SECRET_NAME.search(key.value), f"{path}:{node.lineno}: use get_secret"
        literal = r"""(?i)(api_?key|token|password)\s*=\s*["'][A-Za-z0-9_\-]{16,}["']"""
        assert not re.search(literal, text), path


def test_no_secret_fields_in_dagster_config_or_resources():
    """Run config and resource fields are shown in the UI and stored with each run."""
    import dagster as dg

    from matassets.definitions import defs

    fields: list[str] = []
    for resource in (defs.resources or {}).values():
        if isinstance(resource, dg.ConfigurableResource):
            fields += list(type(resource).model_fields)
    for assets_def in defs.assets or []:
        node = getattr(assets_def, "op", None)
        schema = getattr(node, "config_schema", None)
        config_type = getattr(schema, "config_type", None)
        fields += list(getattr(config_type, "fields", {}) or {})
    assert fields  # the scan sees the configs (e.g. the preset overrides)
    leaked = [f for f in fields if SECRET_NAME.search(f)]
    assert not leaked, f"secret-like config fields {leaked}: read them with get_secret instead"
