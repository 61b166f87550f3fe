"""The conda environment of the rules (--sdm conda) agrees with pyproject and tools/constraints.txt; the README's
two commands are the set-up for the pipeline and for the tests, and CI runs the second."""

import re
import tomllib

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .conftest import ROOT


def _constraints():
    pins = {}
    for line in (ROOT / "tools" / "constraints.txt").read_text().splitlines():
        if "==" in line:
            name, version = line.strip().split("==")
            pins[canonicalize_name(name)] = version
    return pins


def _pip_entries(env):
    entries = []
    for item in env["dependencies"]:
        if isinstance(item, dict):
            entries += item.get("pip", [])
    return entries


def test_conda_environment_agrees_with_pyproject_and_constraints():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {canonicalize_name(Requirement(r).name): Requirement(r) for r in project["dependencies"]}
    pins = _constraints()
    envs = sorted((ROOT / "envs").glob("*.yaml"))
    assert envs
    for path in envs:
        env = yaml.safe_load(path.read_text())
        entries = _pip_entries(env)
        for entry in entries:  # nothing Snakemake's copy of the file could not find
            assert not entry.startswith(("-e", ".", "/", "file:")) and "../" not in entry, f"{path.name}: {entry}"
        pinned = {}
        for entry in entries:
            requirement = Requirement(entry)
            (spec,) = requirement.specifier
            assert spec.operator == "==", f"{path.name}: {entry} is not pinned"
            pinned[canonicalize_name(requirement.name)] = spec.version
        assert set(pinned) == set(runtime), f"{path.name}: {sorted(set(pinned) ^ set(runtime))}"
        for name, version in pinned.items():
            assert version == pins[name], f"{path.name}: {name}=={version}, constraints.txt has {pins[name]}"
            assert runtime[name].specifier.contains(version), f"{path.name}: {name}=={version} vs {runtime[name]}"
        conda = [d for d in env["dependencies"] if isinstance(d, str)]
        assert "python=3.11" in conda and any("source-extractor" in d for d in conda)


def test_every_rule_uses_the_environment():
    rules = "".join(p.read_text() for p in (ROOT / "workflow" / "rules").glob("*.smk"))
    n_rules = len(re.findall(r"^\s*rule \w+:", rules, re.M))
    assert rules.count('conda:\n        "../../envs/spherex-sdt.yaml"') + rules.count(
        'conda:\n            "../../envs/spherex-sdt.yaml"') == n_rules


def test_readme_commands_and_ci():
    readme = (ROOT / "README.md").read_text()
    assert "tools/setup.sh && .venv/bin/snakemake --configfile config/demo.yaml" in readme
    assert "tools/setup.sh --test && .venv/bin/python -m pytest" in readme
    assert "tools/setup.sh --test" in (ROOT / ".ci" / "run").read_text()
    setup = (ROOT / "tools" / "setup.sh").read_text()
    code = "\n".join(line for line in setup.splitlines() if not line.lstrip().startswith("#"))
    pipeline_part = code.split("if $tests; then", 1)[0]
    assert "chromium" in code and "slurm-wlm" in code
    assert "chromium" not in pipeline_part and "slurm-wlm" not in pipeline_part  # only with --test
