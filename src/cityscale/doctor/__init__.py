"""`cityscale doctor`: automated root-cause analysis of a broken deployment (DESIGN.md section 4).

The pieces: `report` (what a check says), `context` (every file, environment and command the checks
look at, so `--root DIR` and tests can point them at a fixture tree), `registry` (how checks are
declared and found), `runner` (runs the selected checks, each bounded in time), `render` (table or
JSON), `fixer` (`--fix`: safe, reversible file edits). The checks live in `checks/<layer>/`, one
small module per check or per small family.
"""
