"""Airflow remote task log handlers that keep a task's log readable after its pod is gone.

Data flow: ``airflow/`` holds the glue Airflow calls (Airflow 3 RemoteLogIO, Airflow 2 task handler,
provider registration); ``objectstore/`` ships a local log file as immutable chunk objects and reads them
back in order.
"""
