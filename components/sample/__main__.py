"""`python -m webtext.components.sample --port 8000`: serve the sample web on loopback, to poke at it."""

from webtext.components.sample.server import main

main()
