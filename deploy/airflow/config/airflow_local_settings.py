"""Written by orchestration.env.write_local_settings: the pipeline's task code is imported
once in the Airflow processes that fork task processes (scheduler, celery worker), not once per task."""

from orchestration.env import preload_task_code

__all__: list[str] = []  # no cluster policies here

preload_task_code()
