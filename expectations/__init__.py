"""Expectation suites (generated from contracts; hand-written for canonical tables) and their runner."""
