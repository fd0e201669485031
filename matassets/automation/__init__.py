"""Dagster automation: sensors, schedules and the adaptive tuning driver (rules in ``tuning/``)."""
