"""Entry point placeholder; replaced by the Typer app."""


def main() -> None:
    """Run the CLI."""
