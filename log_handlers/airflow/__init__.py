"""Airflow's side of remote task logs: every adapter Airflow 2 or 3 calls, over the store cores."""
