"""`python -m scaler` is the `scaler` command."""
from scaler.cli import main

main()
