"""The scenario library: cases written from what each rule means (docs/ANALYTICS.md), not from the code.

``dsl.py`` is the small declarative way to write a case and to land it through the real writers
(the registry's validated writes, and for gate passages the ingest path: the stream contract's
validation and the ingest writer) on top of a tiny seeded street. ``cases_<rule>.py`` hold the
cases; ``library.py`` gathers them; ``tests/scenarios/test_scenarios.py`` runs them in ``make test``
and ``bench/rules_eval.py`` reports precision and recall on them.
"""
