"""A DAG for real Airflow 3: one task logs half its lines, defers to the triggerer, resumes and logs the rest."""

from __future__ import annotations

DAG_ID = "airglow_logs_probe"
TASK_ID = "chatty"
LINES = 120
DAG = f'''
import time
from datetime import timedelta

import pendulum
from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger
from airflow.sdk import BaseOperator, dag


class Chatty(BaseOperator):
    """Logs half its lines, defers to the triggerer, resumes and logs the other half."""

    def execute(self, context):
        for number in range({LINES // 2}):
            self.log.info("airglow line %04d", number)
            time.sleep(0.02)
        # Longer than Airflow 3.3.2's supervisor takes to exit after a deferral (~5 s): a resume that starts
        # before the first workload is reported makes the scheduler fail the try (an Airflow race).
        self.defer(trigger=TimeDeltaTrigger(timedelta(seconds=10)), method_name="resume")

    def resume(self, context, event=None):
        for number in range({LINES // 2}, {LINES}):
            self.log.info("airglow line %04d", number)
            time.sleep(0.02)


@dag(dag_id="{DAG_ID}", schedule=None, start_date=pendulum.datetime(2026, 1, 1), catchup=False)
def probe():
    Chatty(task_id="{TASK_ID}")


probe()
'''
