"""The `sdbench` entry point itself: --version, the command list."""

from sdbench.cli import main


def test_version_flag_prints_the_version_and_commit(capsys):
    import sdbench

    assert main(["--version"]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith(f"sdbench {sdbench.__version__} (git ") or out == f"sdbench {sdbench.__version__}"


def test_the_command_list_names_compare(capsys):
    assert main(["--help"]) == 0
    assert "compare " in capsys.readouterr().out
