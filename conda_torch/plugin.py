"""conda's entry point: ``conda torch``, ``conda doctor`` checks, ``.condarc`` settings and the
``--format conda-torch`` environment specifier.

conda imports this module on *every* ``conda`` command, so it imports only ``hookimpl`` at
the top; everything else is imported inside the hook bodies (a test guards this).
"""

from __future__ import annotations

from conda.plugins import hookimpl

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from collections.abc import Iterable

    from conda.plugins.types import (
        CondaEnvironmentSpecifier,
        CondaHealthCheck,
        CondaSetting,
        CondaSubcommand,
    )


@hookimpl
def conda_subcommands() -> Iterable[CondaSubcommand]:
    from conda.plugins.types import CondaSubcommand

    from .cli import configure_parser, execute
    from .constants import SUBCOMMAND, SUMMARY

    yield CondaSubcommand(
        name=SUBCOMMAND, summary=SUMMARY, action=execute, configure_parser=configure_parser
    )


@hookimpl
def conda_settings() -> Iterable[CondaSetting]:
    from conda.common.configuration import PrimitiveParameter
    from conda.plugins.types import CondaSetting

    from .constants import SETTINGS

    for name, (default, description) in SETTINGS.items():
        yield CondaSetting(
            name=name,
            description=description,
            parameter=PrimitiveParameter(default, element_type=str),
        )


@hookimpl
def conda_health_checks() -> Iterable[CondaHealthCheck]:
    """``conda doctor`` runs conda-torch's diagnosis; ``--fix`` rebuilds with ``recreate``."""
    from conda.plugins.types import CondaHealthCheck

    from .health import FIX, NAME, SUMMARY, check, fix

    try:  # conda 26.1+: a fixer, and words for ``conda doctor --list``
        yield CondaHealthCheck(name=NAME, action=check, fixer=fix, summary=SUMMARY, fix=FIX)
    except TypeError:  # older conda: the check alone
        yield CondaHealthCheck(name=NAME, action=check)


@hookimpl
def conda_environment_specifiers() -> Iterable[CondaEnvironmentSpecifier]:
    """``conda env create -f team.yml --format conda-torch`` (conda 25.5+; never auto-detected).

    conda calls this while building most parsers: it loads only :mod:`conda_torch.envspec`.
    """
    try:
        from conda.plugins.types import CondaEnvironmentSpecifier
    except ImportError:  # conda before 25.5
        return
    from .envspec import DESCRIPTION, NAME, TorchEnvironmentSpec

    yield CondaEnvironmentSpecifier(
        name=NAME, environment_spec=TorchEnvironmentSpec, description=DESCRIPTION
    )
