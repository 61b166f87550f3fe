"""config/README.md documents every key of the config schema, and is what tools/config_docs.py makes of it."""

import subprocess
import sys

import yaml

from .conftest import CONFIG_SCHEMA, ROOT


def test_every_schema_key_has_a_description():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import config_docs
    finally:
        sys.path.pop(0)
    schema = yaml.safe_load(CONFIG_SCHEMA.read_text())
    assert config_docs.undocumented(schema) == []
    text = config_docs.reference(schema)
    for name, _, _ in (row for key, node in schema["properties"].items()
                       for row in [(key, node, False), *config_docs._rows(node, f"{key}.")]):
        assert f"`{name}`" in text, name


def test_config_readme_is_up_to_date():
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "config_docs.py"), "--check"], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr


def test_every_key_has_a_type():
    """oneOf/anyOf alternatives, constants and $defs references are named too (difference.visits: "all" or an
    integer; the simulation's sigma ranges)."""
    text = (ROOT / "config" / "README.md").read_text(encoding="utf-8")
    rows = [line.split(" | ") for line in text.splitlines() if line.startswith("| `")]
    assert rows
    assert [row[0] for row in rows if not row[1].strip()] == []
    visits = next(row for row in rows if row[0] == "| `difference.visits`")
    assert visits[1] == '`"all"` or integer (≥ 1)'
