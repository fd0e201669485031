"""Adaptive tuning rounds: the rules as pure functions, the session state and the summary files.

No Dagster here. A session tunes one or more model assets of one partition ("stage"), one target
after another; each round of a target is one training run whose model goes to a candidate folder
(``models/<asset>/tuning/<session>/round_<n>/``), never over the asset's current version. The
Dagster side (``automation.tuning_runs``, ``automation.sensors``) and ``matassets tune`` launch the
rounds; both call :class:`session.TuningSession` so the two paths follow the same rules and write
the same files. Everything is judged on the VALIDATION score only.

- ``knobs``: the tunable preset fields and the moves that change them
- ``outcomes``: reading a finished round's folder into validation/training scores (never test)
- ``rules``: the policy and :func:`~matassets.automation.tuning.rules.next_round`, the next round or a stop
- ``targets``: which assets each phase tunes (families, preset tables, knobs)
- ``promotion``: whether the best round replaces the current version, and the atomic copy
- ``session``: the session's rounds and state on disk
- ``summary``: ``summary.json`` and ``summary.csv``
"""
