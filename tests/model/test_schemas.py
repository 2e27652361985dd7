"""JSON Schemas of the input files: generated from the models, shipped up to date, found by editors through
the `#:schema` header, and checked with an independent validator (jsonschema) on the bundled files."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import jsonschema
import pytest

import twin.sweep.cases  # noqa: F401  (registers the cases file kind, as `twin` does at start)
from tests.sim.runs import REPO, twin_main
from twin.model.schemas import json_schema, schema_names, schema_text

SCHEMA_DIR = REPO / "assets" / "schemas"
BUNDLED = [*(("hall", p) for p in sorted((REPO / "assets" / "halls").glob("*.toml"))),
           *(("scenario", p) for p in sorted((REPO / "assets" / "scenarios").glob("*.toml"))),
           *(("cases", p) for p in sorted((REPO / "assets" / "studies").glob("*.toml")))]
DIRECTIVE = re.compile(r"#:schema (\S+)")


def _validator(kind: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMA_DIR / f"{kind}.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)  # a valid schema of the dialect it names
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("kind", ["hall", "scenario", "cases"])
def test_shipped_schema_files_are_up_to_date(kind):
    """assets/schemas/KIND.schema.json is what the models generate now (regenerate: twin schema --write)."""
    assert kind in schema_names()
    assert (SCHEMA_DIR / f"{kind}.schema.json").read_text(encoding="utf-8") == schema_text(kind), (
        "run `twin schema --write assets/schemas` and commit the result")


@pytest.mark.parametrize(("kind", "path"), BUNDLED, ids=[p.name for _, p in BUNDLED])
def test_bundled_files_point_editors_at_their_schema_and_validate(kind, path):
    """The first line is Taplo's header directive to the right schema, relative to the file; jsonschema finds
    no error in the file."""
    first = path.read_text(encoding="utf-8").splitlines()[0]
    match = DIRECTIVE.fullmatch(first)
    assert match, f"{path.name} starts with {first!r}"
    target = (path.parent / match.group(1)).resolve()
    assert target == (SCHEMA_DIR / f"{kind}.schema.json").resolve()
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in _validator(kind).iter_errors(data)]
    assert errors == []


@pytest.mark.parametrize(("edit", "path_in_error"), [
    (("cell_m = 0.5", 'cell_m = "0.5"'), ["hall", "cell_m"]),        # a string is not a number
    (("cell_m = 0.5", "cell_mm = 0.5"), ["hall"]),                    # a misspelt key is not ignored
    (('ashrae_class = "A1"', 'ashrae_class = "A7"'), ["hall", "ashrae_class"]),
])
def test_schema_rejects_what_the_loader_rejects(tmp_path, edit, path_in_error):
    """The schema catches the mistakes the loader refuses, at the same key path the loader names."""
    from tests.halls import bad_hall
    from twin.model.load import HallError, load_hall

    path = bad_hall(tmp_path, edit)
    with pytest.raises(HallError, match=re.escape(".".join(path_in_error))):
        load_hall(path)
    errors = list(_validator("hall").iter_errors(tomllib.loads(path.read_text(encoding="utf-8"))))
    assert errors and {tuple(e.absolute_path) for e in errors} == {tuple(path_in_error)}, [e.message for e in errors]


@pytest.mark.parametrize("kind", ["hall", "scenario", "cases"])
def test_twin_schema_prints_the_schema(kind, capsys):
    """`twin schema KIND` prints the JSON Schema on stdout, with its dialect."""
    proc = twin_main(capsys, "schema", kind)
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout)
    assert printed == json_schema(kind)
    assert printed["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert printed["additionalProperties"] is False


def test_twin_schema_write_and_unknown_kind(tmp_path: Path, capsys):
    """--write writes one file per kind; an unknown kind exits 2 with one line listing the known ones."""
    proc = twin_main(capsys, "schema", "--write", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{k}.schema.json" for k in schema_names())
    proc = twin_main(capsys, "schema", "cabinet")  # the error line: in process
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "hall" in proc.stderr


def test_scenario_schema_takes_durations_as_the_loader_does():
    """Durations: numbers of seconds or the CLI's grammar ('10min', '1.5h'); other text is refused by both."""
    from twin.model.load import HallError
    from twin.model.scenario import parse_scenario

    validator = _validator("scenario")
    for at in (600, 90.5, "10min", "1.5h", " 2 d"):
        data = {"scenario": {"name": "x", "duration": "1h"}, "events": [{"at": at, "kind": "utility_outage"}]}
        assert list(validator.iter_errors(data)) == [], at
        parse_scenario(data)
    for at in ("10 minutes", "1h30", "-5s", True):
        data = {"scenario": {"name": "x"}, "events": [{"at": at, "kind": "utility_outage"}]}
        assert list(validator.iter_errors(data)), at
        with pytest.raises(HallError):
            parse_scenario(data)


def test_bundled_study_loads_and_the_schema_refuses_what_the_loader_refuses(tmp_path):
    """The bundled cases file loads against its hall into the cases its grid and list say; a setpoint
    outside 10–35 °C is refused by the loader and by the schema at the same key path."""
    from twin.model.load import HallError, load_hall
    from twin.sweep.cases import CasesError, load_cases

    study = REPO / "assets" / "studies" / "reference-setpoint-load.toml"
    cases = load_cases(study, load_hall(REPO / "assets" / "halls" / "reference.toml"))
    assert len(cases) == 3 * 2 * 2 + 2 and cases[-1].name == "hot day"
    bad = tmp_path / "bad.toml"
    bad.write_text(study.read_text(encoding="utf-8").replace("[18.0, 20.0, 22.0]", "[18.0, 40.0]"),
                   encoding="utf-8")
    with pytest.raises((CasesError, HallError), match=re.escape("grid.supply_setpoint_c")):
        load_cases(bad, load_hall(REPO / "assets" / "halls" / "reference.toml"))
    errors = list(_validator("cases").iter_errors(tomllib.loads(bad.read_text(encoding="utf-8"))))
    # [grid] is optional (anyOf a grid or null): the item's error is in the context of the grid's.
    paths = {tuple(c.absolute_path) for e in errors for c in (e.context or [e])}
    assert errors and ("grid", "supply_setpoint_c", 1) in paths, paths
