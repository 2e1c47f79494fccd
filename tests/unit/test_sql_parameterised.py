"""SQL is parameterised everywhere: a statement built from Python strings may splice in only
fixed fragments (column lists defined once in its module), never a value; values go as $n
arguments. Checked on the source of every module that talks to PostgreSQL."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).parents[2]
SOURCES = sorted(p for package in ("app", "projections", "domain")
                 for p in (ROOT / package).rglob("*.py"))
SQL = re.compile(r"\b(SELECT|INSERT INTO|UPDATE|DELETE FROM|CREATE|ALTER|DROP)\b.*\b"
                 r"(FROM|INTO|SET|TABLE|INDEX|WHERE|VALUES)\b|\bWHERE\b.*[=<>]", re.S)


def fixed_fragments(tree: ast.Module) -> set[str]:
    """Module-level names bound to text known when the module loads (no runtime value)."""
    fixed: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(
                node.targets[0], ast.Name) and is_fixed(node.value, fixed):
            fixed.add(node.targets[0].id)
    return fixed


def is_fixed(node: ast.expr, fixed: set[str]) -> bool:
    """A string built only from literals and fixed names (with str methods on them)."""
    return all(isinstance(part, (ast.Constant, ast.JoinedStr, ast.FormattedValue, ast.BinOp,
                                 ast.Call, ast.Attribute, ast.Load, ast.Add, ast.Mod))
               or (isinstance(part, ast.Name) and part.id in fixed)
               for part in ast.walk(node))


def spliced(node: ast.expr) -> list[ast.expr]:
    """The expressions a string-building node puts into its text."""
    if isinstance(node, ast.JoinedStr):
        return [value.value for value in node.values if isinstance(value, ast.FormattedValue)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mod, ast.Add)):
        return [side for side in (node.left, node.right) if not isinstance(side, ast.Constant)]
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "format"):
        return [*node.args, *(keyword.value for keyword in node.keywords)]
    return []


def literal_text(node: ast.expr) -> str:
    return " ".join(part.value for part in ast.walk(node)
                    if isinstance(part, ast.Constant) and isinstance(part.value, str))


def statements_splicing_values(path: Path, root: Path = ROOT) -> list[str]:
    tree = ast.parse(path.read_text())
    fixed = fixed_fragments(tree)
    found = []
    for node in ast.walk(tree):
        parts = spliced(node)
        if not parts or not SQL.search(literal_text(node)):
            continue
        unsafe = [ast.unparse(part) for part in parts
                  if not (isinstance(part, ast.Name) and part.id in fixed)
                  and not (isinstance(part, (ast.JoinedStr, ast.BinOp)) and is_fixed(part, fixed))]
        if unsafe:
            found.append(f"{path.relative_to(root)}:{node.lineno} splices {unsafe}")
    return found


def test_no_statement_splices_a_value_into_its_sql():
    offending = [problem for path in SOURCES for problem in statements_splicing_values(path)]
    assert offending == []


def test_the_check_finds_values_spliced_into_sql(tmp_path):
    module = tmp_path / "store.py"
    module.write_text(
        'COLUMNS = "event_id, version"\n'
        'SAFE = f"SELECT {COLUMNS} FROM events WHERE aggregate_id = $1"\n'
        "async def load(pool, aggregate_id, table):\n"
        '    await pool.fetch(f"SELECT {COLUMNS} FROM events WHERE id = \'{aggregate_id}\'")\n'
        '    await pool.fetch("DELETE FROM outbox WHERE position = %s" % aggregate_id)\n'
        '    await pool.fetch("SELECT * FROM {} WHERE id = $1".format(table), aggregate_id)\n'
        '    await pool.fetch("SELECT * FROM events WHERE id = " + aggregate_id)\n'
        '    await pool.fetch(f"SELECT {COLUMNS} FROM events WHERE id = $1", aggregate_id)\n')
    found = statements_splicing_values(module, root=tmp_path)
    assert [line.split(" ", 1)[0] for line in found] == [
        "store.py:4", "store.py:5", "store.py:6", "store.py:7"]
