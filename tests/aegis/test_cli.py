"""aegis/cli.py and aegis/doctor.py: the console script's subcommands."""
from aegis.cli import main
from aegis.doctor import Check, format_report, run_checks


def test_plugins_lists_components_by_registry_with_provider_and_summary(capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "RUNNERS (" in out and "HOOKS (" in out
    assert "AegisRunner" in out and "[aegis.core]" in out
    assert "mmengine ``Runner`` whose checkpoints are plain data" in out


def test_plugins_name_shows_arguments_types_and_defaults(capsys):
    assert main(["plugins", "StopAfterEpochHook"]) == 0
    out = capsys.readouterr().out
    assert "stop_after: int = 2" in out


def test_plugins_name_prints_readable_types_and_what_the_parent_injects(capsys):
    assert main(["plugins", "QFormer"]) == 0
    out = capsys.readouterr().out
    assert "    input_dim: int (injected by the parent)\n" in out and "    output_dim: int (injected by the parent)\n" in out
    assert "    checkpoint: path (must exist) | None = None\n" in out
    assert "    num_query_tokens: int = " in out
    assert "Annotated" not in out and "Optional" not in out and "(required)" not in out
    assert main(["plugins", "VJEPAEncoder"]) == 0
    out = capsys.readouterr().out
    assert "    output: 'tokens' | 'pooled' = 'tokens'\n" in out and "    arch: str | None = 'vit_tiny'\n" in out


def test_plugins_unknown_name_suggests(capsys):
    assert main(["plugins", "StopAfterEpochHok"]) == 2
    assert "Did you mean StopAfterEpochHook" in capsys.readouterr().err


def test_doctor_reports_each_capability_with_a_fix_for_missing_ones(capsys):
    checks = {c.name: c for c in run_checks()}
    assert checks["torch"].ok and checks["video backend: PyAV"].ok
    habitat = checks["HabitatNavEnv: habitat-sim"]  # added by the envs plugin's aegis_doctor_checks hook
    assert not habitat.ok and "conda install habitat-sim" in habitat.fix
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "habitat-sim" in out and "bitsandbytes" in out and "CUDA" in out


def test_format_report_marks_missing_pieces_with_their_fix():
    text = format_report([Check("a", True, "fine"), Check("b", False, "missing", "pip install b")])
    assert text.splitlines()[0].startswith("ok ") and "-> pip install b" in text
