"""The docs say what the project does, and keep saying it.

- The README stays short, and every relative link of the README and docs/ reaches its file and
  heading.
- The README's results are not measured by the suite (hour-long trainings on the competition
  data; no run's outputs are committed), so what is tested is that they cannot drift from the page
  they come from: every number of a results table appears in the section that the line above the
  table links to, where each number has its command.
- Every `kedro` command line of the README (and `make run …`, a plain `kedro run` underneath)
  runs as written on the quick configuration, in one scratch project; commands that name another
  environment get its parameters as `--params`, or are skipped with the reason below.
- docs/mlflow.md names every metric, tag and artifact a run logs.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pytest
import yaml
from conftest import REPO
from PIL import Image

README = REPO / "README.md"
DOCS = sorted((REPO / "docs").glob("*.md"))
MAX_README_LINES = 120

# Numbers as the docs write them: 9,871; 0.751; 4.1e-08; not the 16 of bfloat16 or the 2 of AVX2.
NUMBER = re.compile(r"(?<![\w.])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:e[-+]?\d+)?(?!\w)")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


# --- Markdown, read the way GitHub renders it ---------------------------------------------------

def _prose_lines(text: str) -> list[tuple[str, bool]]:
    """Each line with whether it is inside a fenced code block."""
    lines, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            lines.append((line, True))
        else:
            lines.append((line, fenced))
    return lines


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    anchors, seen = set(), {}
    for line, fenced in _prose_lines(path.read_text()):
        match = re.match(r"#{1,6}\s+(.*)", line)
        if match and not fenced:
            slug = _slug(match.group(1))
            anchors.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
            seen[slug] = seen.get(slug, 0) + 1
    return anchors


def _section(path: Path, anchor: str) -> str:
    """The text under the heading ``anchor`` of ``path``, up to the next heading of its level or above."""
    lines, start, level = _prose_lines(path.read_text()), None, 0
    for k, (line, fenced) in enumerate(lines):
        match = re.match(r"(#{1,6})\s+(.*)", line)
        if not match or fenced:
            continue
        if start is None and _slug(match.group(2)) == anchor:
            start, level = k, len(match.group(1))
        elif start is not None and len(match.group(1)) <= level:
            return "\n".join(line for line, _ in lines[start:k])
    assert start is not None, f"{path.name} has no heading #{anchor}"
    return "\n".join(line for line, _ in lines[start:])


def _links(path: Path) -> list[str]:
    return [target for line, fenced in _prose_lines(path.read_text()) if not fenced
            for target in LINK.findall(line)]


def _tables(lines: list[str]) -> list[tuple[int, list[list[str]]]]:
    """Each table among ``lines``: its first line's index and its rows of cells (header first)."""
    tables, k = [], 0
    while k < len(lines):
        if lines[k].startswith("|") and k + 1 < len(lines) and re.match(r"\|\s*-", lines[k + 1]):
            start, rows = k, []
            while k < len(lines) and lines[k].startswith("|"):
                if k != start + 1:
                    cells = re.split(r"(?<!\\)\|", lines[k].strip())[1:-1]
                    rows.append([cell.strip() for cell in cells])
                k += 1
            tables.append((start, rows))
        else:
            k += 1
    return tables


# --- (c) short README, (b) links ----------------------------------------------------------------

def test_the_readme_has_at_most_120_lines():
    n = len(README.read_text().splitlines())
    assert n <= MAX_README_LINES, f"README.md has {n} lines: move detail to docs/ and link it"


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda path: path.name)
def test_every_relative_link_reaches_its_file_and_heading(page):
    broken = []
    for target in _links(page):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        path = (page.parent / file).resolve() if file else page
        if not path.exists():
            broken.append(f"{target}: no file {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
            broken.append(f"{target}: {path.name} has no heading #{anchor}")
    assert not broken, f"{page.name}: " + "; ".join(broken)


# --- (a) the README's results agree with their sources ------------------------------------------

def _results_tables() -> list[tuple[str, list[list[str]]]]:
    """Each table of the README's Results section with the link (``page#anchor``) in the paragraph
    just above it, which names the page its numbers come from."""
    section = _section(README, "results").splitlines()
    found = []
    for start, rows in _tables(section):
        above = []
        for line in reversed(section[:start]):
            if not line.strip() and above:
                break
            above.insert(0, line)
        links = [t for t in LINK.findall(" ".join(above)) if not re.match(r"[a-z]+:", t)]
        assert links, f"the paragraph above the results table {rows[0]} links no page its numbers come from"
        found.append((links[-1], rows))
    return found


def test_the_readme_has_results_tables_each_with_its_source():
    tables = _results_tables()
    assert len(tables) >= 2
    for source, _ in tables:
        assert "#" in source, f"{source}: link the section the numbers are in, not only the page"


def test_every_number_in_the_readmes_results_tables_is_in_the_section_it_comes_from():
    for source, rows in _results_tables():
        file, _, anchor = source.partition("#")
        source_numbers = set(NUMBER.findall(_section(README.parent / file, anchor)))
        header, body = rows[0], rows[1:]
        columns = [k for k, name in enumerate(header) if name != "command"]
        missing = {number for row in body for k in columns for number in NUMBER.findall(row[k])} - source_numbers
        assert not missing, f"README results numbers not in {source}: {sorted(missing)}"


# --- README commands run as written -------------------------------------------------------------

# What `make TARGET` runs (Makefile); `make run` on the built-in data is `kedro run --env synthetic`.
MAKE_TARGETS = {
    "run": "kedro run --env synthetic",
    "viz": "kedro viz run",
    "mlflow-ui": "kedro mlflow ui",
}
# Commands that start a server and wait: not runs.
SERVERS = {
    "viz": "starts kedro-viz's web server and waits (tests/test_kedro_run.py builds the static site instead)",
    "mlflow": "starts the MLflow UI server and waits",
    "jupyter": "starts a Jupyter server and waits (tests/test_jupyter.py starts it headless)",
}
# Environments whose parameters `--params` cannot express, or that quick exists to replace.
QUICK_STANDS_IN = {
    "synthetic": ("its differences from base are training budgets of minutes (stages of 2 + 1.5 min) and "
                  "96 explained images: what quick shrinks to seconds"),
}
SKIPPED_ENVS = {
    "gpu": "a residual U-Net of 32 filters without time limits: a GPU run of about an hour",
    "reproducible": "20 + 50 full epochs in deterministic float32: about an hour on a CPU",
}
# Placeholders of the README, and what the test puts in their place.
PLACEHOLDERS = {
    ("--pipeline", "NAME"): "data_engineering",
    ("--env", "NAME"): "quick",
}
# Extra `--params` for commands whose quick run is still long, with why.
SHRINK = {
    "execution.mode=local_cluster": (
        "explainability.absence=[background]",
        ("each of quick's four definitions of absence starts a LocalCluster of its own (about 2 min in all "
         "on 2 cores); one shows that the command runs"),
    ),
}
QUICK_RUN = ("run", "--env", "quick")


def readme_commands() -> list[str]:
    """Every `kedro …` and `make run|viz|mlflow-ui …` line of the README, from code spans and code
    blocks (comments dropped), in the README's order, each once."""
    found, prose, offset = [], [], 0
    for line, fenced in _prose_lines(README.read_text()):
        if fenced and not line.lstrip().startswith("```") and shlex.split(line, comments=True):
            found.append((offset, shlex.join(shlex.split(line, comments=True))))
        prose.append(" " * len(line) if fenced else line)  # blanked, so that offsets still hold
        offset += len(line) + 1
    found += [(m.start(), " ".join(m.group(1).split())) for m in re.finditer(r"`([^`]+)`", "\n".join(prose))]
    commands = []
    for _, candidate in sorted(found):
        if re.match(r"(\.venv/bin/)?kedro |make (run|viz|mlflow-ui)\b", candidate) and candidate not in commands:
            commands.append(candidate)
    return commands


def _env_as_params(env: str) -> list[str]:
    """``key=value`` for every parameter that ``conf/<env>`` sets."""
    params = []

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else key, inner)
        elif isinstance(value, (list, tuple)):
            pytest.fail(f"conf/{env} sets {prefix} to a list, which --params cannot carry: add "
                        f"{env} to QUICK_STANDS_IN or SKIPPED_ENVS with the reason")
        else:
            params.append(f"{prefix}={'null' if value is None else value}")

    for path in sorted((REPO / "conf" / env).glob("*.yml")):
        walk("", yaml.safe_load(path.read_text()) or {})
    return params


def as_quick_run(command: str, sections: Path) -> tuple[tuple[str, ...] | None, str]:
    """The kedro arguments that run ``command`` on the quick configuration (with ``sections`` for
    the README's DIR_OR_ZIP), or None and why not."""
    words = shlex.split(command)
    if words[0] == "make":
        args = [w.split("=", 1)[1] for w in words[2:] if w.startswith("ARGS=")]
        words = shlex.split(MAKE_TARGETS[words[1]]) + [w for a in args for w in shlex.split(a)]
    words = words[1:]  # kedro's arguments
    if words[0] in SERVERS:
        return None, SERVERS[words[0]]
    env, params, rest, k = None, [], [], 0
    while k < len(words):
        word = words[k]
        value = words[k + 1] if k + 1 < len(words) else None
        if (word, value) in PLACEHOLDERS:
            value = PLACEHOLDERS[word, value]
        if word == "--env":
            env, k = value, k + 2
        elif word == "--params":
            params.append(value.replace("DIR_OR_ZIP", str(sections)))
            k += 2
        elif value is not None and word.startswith("--") and not value.startswith("--"):
            rest += [word, value]
            k += 2
        else:
            rest.append(word)
            k += 1
    if env in SKIPPED_ENVS:
        return None, f"--env {env}: {SKIPPED_ENVS[env]}"
    if env not in (None, "quick", *QUICK_STANDS_IN):
        params += _env_as_params(env)
    for trigger, (extra, _) in SHRINK.items():
        if any(trigger in p for p in params):
            params.append(extra)
    arguments = [*rest, "--env", "quick"] + (["--params", ",".join(params)] if params else [])
    return tuple(arguments), ""


def _kedro(project: Path, *arguments: str) -> subprocess.CompletedProcess:
    """``kedro ARGUMENTS`` in ``project``, in a process of its own (as in test_fault_injection.py)."""
    kedro = str(Path(sys.executable).parent / "kedro")
    return subprocess.run([kedro, *arguments], check=False, cwd=project, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "TF_CPP_MIN_LOG_LEVEL": "2"})


@pytest.fixture(scope="module")
def readme_project(tmp_path_factory):
    """One scratch project after `kedro run --env quick --pipeline synthetic_data` and a whole
    `kedro run --env quick`, with a folder of two PNG sections for `inference.sections`; and the
    record of the kedro arguments already run there."""
    from kedro_project import scratch_project

    project = scratch_project(tmp_path_factory.mktemp("readme"))
    for arguments in (("run", "--env", "quick", "--pipeline", "synthetic_data"), QUICK_RUN):
        result = _kedro(project, *arguments)
        assert result.returncode == 0, f"kedro {' '.join(arguments)}:\n{result.stderr[-3000:]}"
    sections = project / "sections"
    sections.mkdir()
    rng = np.random.default_rng(0)
    for name, shape in (("square", (101, 101)), ("wide", (120, 160))):
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode="L").save(sections / f"{name}.png")
    return {"project": project, "sections": sections, "ran": {QUICK_RUN}}


def test_the_readme_commands_are_found_with_their_quick_form(tmp_path):
    commands = readme_commands()
    assert "make run" in commands and "kedro run --pipeline inference" in commands
    assert as_quick_run("make run", tmp_path) == (QUICK_RUN, "")
    assert as_quick_run("make run ARGS='--pipeline explainability'", tmp_path)[0] == (
        "run", "--pipeline", "explainability", "--env", "quick")
    assert as_quick_run("kedro run --env cpu_float32 --to-nodes evaluate_model", tmp_path)[0] == (
        "run", "--to-nodes", "evaluate_model", "--env", "quick", "--params", "modelling.model.unet.base_filters=8")
    assert as_quick_run("make viz", tmp_path)[0] is None


def test_the_make_targets_run_the_kedro_commands_assumed_here():
    makefile = (REPO / "Makefile").read_text()
    assert '--env synthetic' in makefile and "$(BIN)/kedro run $$env $(ARGS)" in makefile
    assert "$(BIN)/kedro viz run" in makefile and "$(BIN)/kedro mlflow ui" in makefile


def _readme_cases() -> list:
    """The README's commands, those that cannot run here marked skipped with the reason."""
    cases = []
    for command in readme_commands():
        arguments, reason = as_quick_run(command, Path("DIR_OR_ZIP"))
        cases.append(pytest.param(command, marks=pytest.mark.skip(reason=reason)) if arguments is None else command)
    return cases


@pytest.mark.integration
@pytest.mark.parametrize("command", _readme_cases())
def test_a_readme_command_runs_as_written_on_the_quick_configuration(command, readme_project):
    arguments, _ = as_quick_run(command, readme_project["sections"])
    if arguments in readme_project["ran"]:
        return  # the same kedro run already ran (and passed) for an earlier line
    result = _kedro(readme_project["project"], *arguments)
    assert result.returncode == 0, f"kedro {shlex.join(arguments)} (README: {command}):\n{result.stderr[-4000:]}"
    readme_project["ran"].add(arguments)


# --- docs/mlflow.md names everything a run logs -------------------------------------------------

def _documented(heading: str) -> list[re.Pattern]:
    """The names in the first column of docs/mlflow.md's table under ``heading``, as patterns:
    ``<placeholder>`` stands for one name, ``*`` for anything."""
    section = _section(REPO / "docs/mlflow.md", heading).splitlines()
    (_, rows), *_ = _tables(section)
    names = [name for row in rows[1:] for name in re.findall(r"`([^`]+)`", row[0])]
    return [re.compile(re.sub(r"<[^>]+>", r"[^./]+", re.escape(n).replace(r"\<", "<").replace(r"\>", ">"))
                       .replace(r"\*", ".+")) for n in names]


def _logged(project: Path) -> tuple[set[str], set[str], set[str]]:
    """Every metric name, tag and artifact path of every run in ``project``'s mlflow.db."""
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("explainable-salt")
    metrics, tags, artifacts = set(), set(), set()

    def walk(run_id: str, path: str | None = None) -> None:
        for item in client.list_artifacts(run_id, path):
            walk(run_id, item.path) if item.is_dir else artifacts.add(item.path)

    for run in client.search_runs([experiment.experiment_id]):
        metrics |= set(run.data.metrics)
        tags |= set(run.data.tags)
        walk(run.info.run_id)
    return metrics, tags, artifacts


def _undocumented(names: set[str], heading: str) -> list[str]:
    patterns = _documented(heading)
    return sorted(n for n in names if not any(p.fullmatch(n) for p in patterns))


@pytest.mark.integration
def test_every_metric_a_run_logs_is_named_in_docs_mlflow(readme_project):
    metrics, _, _ = _logged(readme_project["project"])
    assert len(metrics) > 50
    assert not _undocumented(metrics, "metrics"), "metrics missing from docs/mlflow.md"


@pytest.mark.integration
def test_every_tag_and_artifact_a_run_logs_is_named_in_docs_mlflow(readme_project):
    _, tags, artifacts = _logged(readme_project["project"])
    assert {"raw_data.blake2b", "config.blake2b", "kedro.env"} <= tags and "explorer.html" in artifacts
    assert not _undocumented(tags, "tags"), "tags missing from docs/mlflow.md"
    assert not _undocumented(artifacts, "artifacts"), "artifacts missing from docs/mlflow.md"
