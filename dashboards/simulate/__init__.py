"""A simulated fleet of pod-per-task Airflow deployments: statsd traffic and Kubernetes-side expositions.

``model`` steps the fleet (pure, seeded); ``statsd_sender`` sends what Airflow would, through the real
``statsd`` client; ``expositions`` renders what kube-state-metrics, cAdvisor and the PgBouncer exporter would
show for the same pods; ``server`` serves those; ``cli`` is ``airglow-simulate``.
"""
