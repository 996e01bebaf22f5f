"""Airflow remote task log handlers that keep a task's log readable after its pod is gone.

Data flow: ``airflow/`` holds every adapter Airflow calls (Airflow 3's RemoteLogIO and Airflow 2's task
handlers for both stores, the logging config, provider registration, the one reader of Airflow's settings);
the store cores below it know nothing of Airflow's versions: ``objectstore/`` ships a local log file as
immutable chunk objects and reads them back in order, ``elasticsearch/`` writes a try's lines as documents
and reads them back. ``try_identity`` names a try and renders Airflow's log path and log id templates;
``retry`` and ``timestamps`` serve both stores.
"""
